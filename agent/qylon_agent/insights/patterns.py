"""The offline extractor's vocabulary (``offline.py``): words that are never names, and
the patterns of commitments, requests, answers, hedges, recaps and decisions."""

from __future__ import annotations

import re

from . import speech

NOT_NAMES = {
    "I",
    "We",
    "You",
    "He",
    "She",
    "They",
    "It",
    "This",
    "That",
    "There",
    "These",
    "Those",
    "Someone",
    "Somebody",
    "Everyone",
    "Everybody",
    "Nobody",
    "Anyone",
    "Anybody",
    "Who",
    "What",
    "Which",
    "Where",
    "When",
    "Why",
    "How",
    "The",
    "A",
    "An",
    "Our",
    "Your",
    "My",
    "Their",
    "His",
    "Her",
    "Its",
    "Then",
    "So",
    "And",
    "But",
    "Also",
    "Maybe",
    "Perhaps",
    "Ok",
    "Okay",
    "Yes",
    "No",
    "Sure",
    "Well",
    "Great",
    "Good",
    "Thanks",
    "Thank",
    "Let",
    "If",
    "Unless",
    "Next",
    "Finally",
    "First",
    "Second",
    "Last",
    "Now",
    "Today",
    "Tomorrow",
    "Action",
    "Todo",
    "Recap",
    "Right",
    "Alright",
    "Fine",
    "Sounds",
    "Perfect",
    "Cool",
    "Nice",
    "Just",
    "Please",
    "Both",
    "All",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Hi",
    "Hello",
    "Morning",
    "Afternoon",
    "Agreed",
    "Absolutely",
    "Of",
    "Or",
    "Nor",
    "Course",
    "Yeah",
    "Yep",
    "Nope",
    "Mine",
    "Yours",
    "Ours",
    "Hmm",
    "Um",
    "Uh",
    "Oh",
    "Actually",
    "Honestly",
    "Probably",
    "Sorry",
    "Unfortunately",
    "Again",
    "Once",
}
NAME = r"(?:[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)"
MODAL = r"(?:will|'ll|shall|is going to|are going to|am going to|'m going to|'re going to|can|is to|needs to|need to|has to|have to|should)"
HEDGES = re.compile(
    r"\b(if|unless|in case|suppose|supposing|assuming|maybe|perhaps|probably|possibly|might|would|could(?! you)"
    r"|i'd|we'd|in theory|hypothetically|what if|i guess|i wonder|wish|whether|ideally|no promises?)\b",
    re.IGNORECASE,
)
NEGATION = re.compile(
    r"\b(won't|will not|can't|cannot|can not|not going to|never|don't|do not|shan't|isn't|aren't|wasn't)\b",
    re.IGNORECASE,
)
STATIVE = re.compile(
    r"^(be|see|know|think|wait|need|want|like|love|hope|miss|remember|keep in mind|probably|still|have been|have no|get there|try)\b(?! to| and)",
    re.IGNORECASE,
)
FILLER = speech.LEADING_FILLER
VAGUE = re.compile(
    r"^(?:do|take care of|handle|own|sort out|look into|pick up|take|cover|deal with|manage|get|grab)\s+"
    r"(?:that|it|this|those|them)(?:\s+one)?(?:\s+out)?$|^do so$|^take that on$|^take it on$|^(?:on it)$",
    re.IGNORECASE,
)
ACCEPT = re.compile(
    r"^(?:yes|yeah|yep|sure|of course|absolutely|certainly|definitely|will do|no problem|ok(?:ay)?|happy to|"
    r"consider it done|on it|sounds good|fine|can do|i can do (?:that|it)|i'll (?:do|take|handle|own)|i will (?:do|take|handle)|"
    r"i'm on it|leave it (?:to|with) me|i've got it|got it)\b",
    re.IGNORECASE,
)
TAKE = re.compile(  # taking on a need someone voiced: "I'll do it", not a bare "yeah" of agreement
    r"^(?:(?:yes|yeah|sure|okay|ok)\b[,.!]?\s*)?(?:i(?:'ll| will| can)\b|i'm on it|leave it (?:to|with) me|will do\b|on it\b|"
    r"consider it done|let me\b|happy to\b|i've got it|can do\b)",
    re.IGNORECASE,
)
REFUSE = re.compile(
    r"^(?:no\b|nope|sorry|unfortunately|i can't|i cannot|i won't|not (?:this|next|today|really)|i don't think (?:i|so)|"
    r"i'm (?:afraid|swamped|out|off|away|fully booked|busy)|i'd rather not|i'd love to,? but|i wish i could|that won't work|i'm not able)",
    re.IGNORECASE,
)
REQUEST = re.compile(
    rf"^(?:(?P<name1>{NAME}),\s+)?(?:(?:[Cc]ould|[Cc]an|[Ww]ould|[Ww]ill)\s+(?P<who>you|someone|somebody|anyone|anybody)\s+"
    rf"(?:please\s+|also\s+|maybe\s+)?(?:mind\s+)?|[Pp]lease\s+)(?P<task>[^?]+?)(?:,\s*(?P<name2>{NAME}))?\s*[?.!]?$",
)
NEED = re.compile(
    r"^(?:someone|somebody|we)\s+(?:needs?|has|have)\s+to\s+(?P<task>.+?)[.!]?$|"
    r"^we\s+need\s+(?:someone|somebody)\s+to\s+(?P<task2>.+?)[.!]?$",
    re.IGNORECASE,
)
ACTION_LINE = re.compile(
    rf"^(?:action item|action|todo|to-do|to do|follow[- ]up|next step)s?(?:\s+for\s+(?P<for>{NAME}))?\s*[:,]\s*(?P<rest>.+)$",
    re.IGNORECASE,
)
RECAP = re.compile(
    r"\b(to recap|recap|to summari[sz]e|to sum up|in summary|summing up|let me summari[sz]e|so the action items|"
    r"action items are|next steps are|just to confirm|to confirm|to wrap up|wrapping up)\b",
    re.IGNORECASE,
)
WRAP_UP = re.compile(  # the end of a meeting, where who does what next is handed out
    r"\b(next meeting|wrap (?:this |it |things )?up|before we (?:close|finish|go)|individual (?:actions|work|assignments)|"
    r"for next time|homework|action items|next steps|what we(?:'re| are) (?:each|all) going to do|here's what|"
    r"until next|before next|in the meantime|between now and then)\b",
    re.IGNORECASE,
)
DECISION = re.compile(
    r"\b(?:we(?:'ve| have)?\s+(?:all\s+)?(?:decided|agreed)|it's decided|decision(?:\s+is)?\s*:|the decision is|we made the decision|"
    r"(?:so\s+)?let(?:'s| us)\s+(?:go with|move|switch|keep|stick with|use|drop|postpone|push|delay|cancel|adopt|choose|pick|"
    r"launch|ship|freeze|change|set|hold off|skip|target|go ahead|raise|lower|cut|extend)|"
    r"we(?:'re| are)\s+going\s+(?:with|ahead)|we(?:'ll| will)\s+go\s+with|final decision|decided:)",
    re.IGNORECASE,
)
UNDECIDED = re.compile(
    r"^\s*(?:if|maybe|perhaps|should|i think|i guess|i suppose|i don't know|probably|or)\b",
    re.IGNORECASE,
)
CLAUSE = re.compile(
    rf"(?:,\s*(?:and\s+|then\s+)?|\s+(?:and|while|then)\s+)(?=(?:{NAME}\s+(?:will|'ll|is going to|[a-z]+s)\b)|(?:I|we)(?:'ll)?\s+[a-z]+\b)"
)
PRONOUN_TASK = re.compile(
    r"^\w+(?:\s+\w+)?\s+(?:it|that|this|them)(?:\s+(?:myself|over|out|up|on|instead|then))?$",
    re.IGNORECASE,
)
PRONOUN_OBJECT = re.compile(
    r"^(?P<verb>\w+(?:\s+(?:up|out|over|on|off|in|through|together))?)\s+(?:it|them|that|this|those)(?P<rest>\s+.*)?$",
    re.IGNORECASE,
)
