"""Transcript files as Teams, Zoom and Google Meet write them, plus SRT and plain text: the same short meeting.

- Teams (the .vtt downloaded from a meeting's recap or Stream): a UTF-8 BOM, CRLF line
  ends, GUID-like cue identifiers, one voice tag per cue (``<v Dana Lee>…</v>``), an
  utterance running over two lines.
- Zoom (cloud recording "Audio transcript"): numbered cues, ``Name: text``.
- Google Meet (a recording's caption track): cue settings after the timing, a NOTE
  block, ``<c>`` spans and HTML entities, ``Name: text``.
"""

from __future__ import annotations

TEAMS = (
    "\ufeffWEBVTT\r\n\r\n"
    "8a2b3c4d-1e2f-4a5b-9c8d-7e6f5a4b3c2d/12-0\r\n00:00:01.520 --> 00:00:05.880\r\n"
    "<v Dana Lee>Good morning everyone. Let's go through the Northwind rollout.</v>\r\n\r\n"
    "8a2b3c4d-1e2f-4a5b-9c8d-7e6f5a4b3c2d/14-0\r\n00:00:06.100 --> 00:00:11.400\r\n"
    "<v Eric Moreau>Um, so, I'll send the revised migration plan to Northwind by Friday.</v>\r\n\r\n"
    "8a2b3c4d-1e2f-4a5b-9c8d-7e6f5a4b3c2d/15-1\r\n00:00:11.900 --> 00:00:17.250\r\n"
    "<v Dana Lee>Great. Fiona, could you book the training room\r\nfor the second week of December?</v>\r\n\r\n"
    "8a2b3c4d-1e2f-4a5b-9c8d-7e6f5a4b3c2d/16-0\r\n00:00:17.600 --> 00:00:19.000\r\n"
    "<v Fiona Park>Sure, I can do that.</v>\r\n\r\n"
    "8a2b3c4d-1e2f-4a5b-9c8d-7e6f5a4b3c2d/17-0\r\n00:00:19.400 --> 00:00:22.900\r\n"
    "<v Dana Lee>Yeah, yeah. Okay, thanks everyone, bye.</v>\r\n"
)

ZOOM = """WEBVTT

1
00:00:01.520 --> 00:00:05.880
Dana Lee: Good morning everyone. Let's go through the Northwind rollout.

2
00:00:06.100 --> 00:00:11.400
Eric Moreau: Um, so, I'll send the revised migration plan to Northwind by Friday.

3
00:00:11.900 --> 00:00:17.250
Dana Lee: Great. Fiona, could you book the training room for the second week of December?

4
00:00:17.600 --> 00:00:19.000
Fiona Park: Sure, I can do that.

5
00:00:19.400 --> 00:00:22.900
Dana Lee: Yeah, yeah. Okay, thanks everyone, bye.
"""

MEET = """WEBVTT
Kind: captions
Language: en

NOTE
Captions of the Google Meet recording "Northwind rollout".

00:00:01.520 --> 00:00:05.880 align:start position:0% line:90%
Dana Lee: Good morning everyone. Let's go through the <c.highlight>Northwind</c> rollout.

00:00:06.100 --> 00:00:11.400 align:start position:0%
Eric Moreau: Um, so, I'll send the revised migration plan to Northwind by Friday.

00:00:11.900 --> 00:00:17.250 align:start position:0%
Dana Lee: Great. Fiona, could you book the training room
for the second week of December?

00:00:17.600 --> 00:00:19.000 align:start position:0%
Fiona Park: Sure, I can do that.

00:00:19.400 --> 00:00:22.900 align:start position:0%
Dana Lee: Yeah, yeah. Okay, thanks everyone, bye &amp; see you.
"""

SRT = """1
00:00:01,520 --> 00:00:05,880
Dana Lee: Good morning everyone. Let's go through the Northwind rollout.

2
00:00:06,100 --> 00:00:11,400
Eric Moreau: Um, so, I'll send the revised migration plan to Northwind by Friday.

3
00:00:11,900 --> 00:00:17,250
Dana Lee: Great. Fiona, could you book the training room
for the second week of December?

4
00:00:17,600 --> 00:00:19,000
Fiona Park: Sure, I can do that.

5
00:00:19,400 --> 00:00:22,900
Dana Lee: Yeah, yeah. Okay, thanks everyone, bye.
"""

PLAIN = """Dana Lee: Good morning everyone. Let's go through the Northwind rollout.
Eric Moreau: Um, so, I'll send the revised migration plan to Northwind by Friday.
Dana Lee: Great. Fiona, could you book the training room
for the second week of December?
Fiona Park: Sure, I can do that.
Dana Lee: Yeah, yeah. Okay, thanks everyone, bye.
"""

NAMES = ["Dana Lee", "Eric Moreau", "Fiona Park"]
ITEMS = [
    ("Eric Moreau", "Send the revised migration plan to Northwind", "2026-11-27"),
    ("Fiona Park", "Book the training room for the second week of December", None),
]
