"""Export a meeting as txt, md, srt, vtt or json."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .subtitles import cues

if TYPE_CHECKING:
    from qylon_cli.schemas import Meeting

FORMATS = ("txt", "md", "srt", "vtt", "json")


def clock(seconds: float, *, sep: str = ".", hours: bool = True) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    if not hours:
        return f"{h * 60 + m:02d}:{s:02d}"
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def short_clock(seconds: float) -> str:
    total = int(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _names(meeting: Meeting) -> dict[str, str]:
    return {sp.id: sp.name or sp.id for sp in meeting.speakers}


def _speaker(meeting: Meeting, label: str | None) -> str | None:
    return _names(meeting).get(label, label) if label else None


def to_txt(meeting: Meeting) -> str:
    lines = []
    for seg in meeting.segments:
        who = _speaker(meeting, seg.speaker)
        lines.append(f"[{short_clock(seg.start)}] " + (f"{who}: " if who else "") + seg.text)
    return "\n".join(lines) + "\n"


def to_md(meeting: Meeting) -> str:
    out = [f"# {meeting.title}", ""]
    facts = [
        f"**Date:** {meeting.created_at:%Y-%m-%d %H:%M} UTC",
        f"**Duration:** {short_clock(meeting.duration_s)}",
    ]
    if meeting.client:
        facts.insert(0, f"**Client:** {meeting.client}")
    if meeting.speakers:
        facts.append("**Speakers:** " + ", ".join(sp.name or sp.id for sp in meeting.speakers))
    out += [" · ".join(facts), ""]
    if meeting.summary:
        out += ["## Summary", "", meeting.summary, ""]
    if meeting.action_items:
        out += ["## Action items", ""]
        for item in meeting.action_items:
            box = "x" if item.status == "done" else " "
            extra = "".join(
                [
                    f" — **{item.owner}**" if item.owner else "",
                    f" (due {item.due.isoformat()})" if item.due else "",
                ]
            )
            out.append(f"- [{box}] {item.task}{extra}")
        out.append("")
    if meeting.decisions:
        out += ["## Decisions", ""] + [f"- {d}" for d in meeting.decisions] + [""]
    out += ["## Transcript", ""]
    for seg in meeting.segments:
        who = _speaker(meeting, seg.speaker)
        out.append(
            f"**[{short_clock(seg.start)}]**" + (f" **{who}:**" if who else "") + f" {seg.text}  "
        )
    return "\n".join(out).rstrip() + "\n"


def to_srt(meeting: Meeting) -> str:
    blocks = []
    for i, cue in enumerate(cues(meeting, label_in_text=True), 1):
        text = "\n".join(cue.lines)
        label = f"{cue.speaker}: " if cue.speaker else ""
        blocks.append(
            f"{i}\n{clock(cue.start, sep=',')} --> {clock(cue.end, sep=',')}\n{label}{text}\n"
        )
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    """WebVTT cue text holds "&" and "<" only as escapes; ">" is escaped too (it cannot
    close a voice tag early, and "-->" cannot appear)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(meeting: Meeting) -> str:
    blocks = ["WEBVTT", ""]
    for i, cue in enumerate(cues(meeting, label_in_text=False), 1):
        voice = f"<v {_vtt_escape(cue.speaker)}>" if cue.speaker else ""
        blocks += [
            str(i),
            f"{clock(cue.start)} --> {clock(cue.end)}",
            voice + "\n".join(_vtt_escape(line) for line in cue.lines),
            "",
        ]
    return "\n".join(blocks)


def to_json(meeting: Meeting) -> str:
    data = meeting.model_dump(mode="json")
    # The JSON export is the full record: keep word timings too.
    for seg, out in zip(meeting.segments, data["segments"]):
        out["words"] = [w.model_dump() for w in seg.words]
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def render(meeting: Meeting, fmt: str) -> str:
    return {"txt": to_txt, "md": to_md, "srt": to_srt, "vtt": to_vtt, "json": to_json}[fmt](meeting)
