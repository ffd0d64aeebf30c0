"""The LLM extractor: any OpenAI-compatible endpoint through the official ``openai`` client.

Configuration (env first, so CI can point anywhere): ``OPENAI_BASE_URL`` or
``llm.base_url``; ``OPENAI_API_KEY`` or the OS keyring (service ``qylon``, user
``openai``); ``llm.model``, ``llm.timeout``, ``llm.context_tokens`` and the rest of
``[llm]`` in settings. The reply must validate against ``schema.ModelInsights``;
an invalid reply is retried with the validation error, a transcript longer than
the model's context is split into parts (and split further when the server says a
part is still too long), and the parts' results are merged. Errors raise
``LLMFailed`` (``LLMUnreachable`` exit 6, ``LLMMisconfigured`` exit 3, ``LLMRefused``
exit 4); the caller falls back to the offline extractor when that is allowed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date

from qylon_cli.errors import EXIT_AUTH, EXIT_INVALID, EXIT_UNAVAILABLE, QylonError
from qylon_cli.schemas import Meeting

from ..store.formats import short_clock
from .merge import merge_items, merge_texts
from .result import Found, Insights

DEFAULT_MODEL = "gpt-4o-mini"  # with OPENAI_API_KEY alone (OpenAI itself), as the `llm` tool does
SYSTEM = """You read meeting transcripts and extract follow-ups. Reply with one JSON object only, matching the given schema.
- action_items: commitments ("I'll send the deck", "Alice will update the plan") and requests that were accepted
  ("Bob, could you ...?" "Sure."). Not: hypotheticals ("if ... I would"), refusals, open questions, things already done.
  owner: the person's name as it appears in the transcript (the speaker for "I"/"we"; the addressee of an accepted
  request); null if unknown. task: a short imperative phrase without the due date. due: YYYY-MM-DD resolved against
  the meeting date ("by Friday" = the next Friday after the meeting), or null. quote: the exact words. line: the line number.
  One item per task: a recap that restates an item is not a new item.
- decisions: what the meeting decided ("We'll move the release to May"), one sentence each.
- summary: two or three sentences."""


class LLMFailed(QylonError):
    code = "llm_failed"


class ContextOverflow(LLMFailed):
    code = "context_overflow"


class LLMUnreachable(LLMFailed):
    """The endpoint did not answer (connection refused, timeout, 429 or 5xx): exit 6."""

    code = "llm_unreachable"
    exit_code = EXIT_UNAVAILABLE


class LLMMisconfigured(LLMFailed):
    """A piece of the configuration is missing or wrong (no model, unknown model, bad URL): exit 3."""

    code = "llm_misconfigured"
    exit_code = EXIT_INVALID


class LLMRefused(LLMFailed):
    """The endpoint refused the key (401, 403): exit 4."""

    code = "llm_not_authenticated"
    exit_code = EXIT_AUTH


@dataclass
class LLMConfig:
    base_url: str | None
    api_key: str | None
    model: str
    timeout: float = 60.0
    retries: int = 1
    http_retries: int = 1
    context_tokens: int = 8192
    max_output_tokens: int = 1500
    temperature: float = 0.0


def _keyring_key() -> str | None:
    from qylon_cli import keystore

    return keystore.get(
        keystore.LLM_KEY, quiet=True
    )  # no usable keyring (headless CI): env or nothing


def config(settings) -> LLMConfig | None:
    """The configured endpoint, or None when no model is configured (then the offline extractor runs)."""
    return resolve(settings)[0]


def require(settings) -> LLMConfig:
    """The configured endpoint; ``LLMMisconfigured`` naming exactly what is missing when there is none."""
    cfg, missing = resolve(settings)
    if cfg is None:
        raise LLMMisconfigured(
            f"The LLM extractor is not configured: {missing}.",
            hint="OPENAI_API_KEY alone uses OpenAI with "
            + DEFAULT_MODEL
            + "; for another endpoint (Ollama, llama.cpp, vLLM) "
            "set OPENAI_BASE_URL (or llm.base_url) and a model name (llm.model or OPENAI_MODEL). See docs/insights.md.",
        )
    return cfg


def resolve(settings) -> tuple[LLMConfig | None, str | None]:
    """(the configuration, None) or (None, what is missing)."""
    model = (
        os.environ.get("OPENAI_MODEL") or (settings.get("llm.model") if settings else None) or None
    )
    base_url = (
        os.environ.get("OPENAI_BASE_URL")
        or (settings.get("llm.base_url") if settings else None)
        or None
    )
    api_key = os.environ.get("OPENAI_API_KEY") or None
    if not model and not base_url and not api_key:
        api_key = _keyring_key()  # only looked up when nothing else says an LLM is wanted
        if not api_key:
            return (
                None,
                "no model endpoint (set OPENAI_API_KEY, or OPENAI_BASE_URL and a model name)",
            )
    if not model:
        if base_url:
            return None, f"no model name for {base_url} (set llm.model or OPENAI_MODEL)"
        model = DEFAULT_MODEL
    if not (base_url or api_key or _keyring_key()):
        return (
            None,
            f"no endpoint or key for model {model!r} (set OPENAI_BASE_URL or llm.base_url, or OPENAI_API_KEY for OpenAI)",
        )
    get = (lambda k, d: settings.get(k, d)) if settings else (lambda k, d: d)
    return LLMConfig(
        base_url=base_url,
        api_key=api_key or _keyring_key(),
        model=model,
        timeout=float(get("llm.timeout", 60.0)),
        retries=int(get("llm.retries", 1)),
        http_retries=int(get("llm.http_retries", 1)),
        context_tokens=int(get("llm.context_tokens", 8192)),
        max_output_tokens=int(get("llm.max_output_tokens", 1500)),
        temperature=float(get("llm.temperature", 0.0)),
    ), None


def transcript_lines(meeting: Meeting) -> list[str]:
    names = {sp.id: sp.name or sp.id for sp in meeting.speakers}
    lines = []
    for i, seg in enumerate(meeting.segments, 1):
        who = names.get(seg.speaker, seg.speaker) if seg.speaker else None
        lines.append(
            f"L{i} [{short_clock(seg.start)}] " + (f"{who}: " if who else "") + seg.text.strip()
        )
    return lines


def chunks(lines: list[str], max_chars: int) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if parts[-1] and size + len(line) + 1 > max_chars:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line) + 1
    return [p for p in parts if p]


def extract(meeting: Meeting, ref: date, cfg: LLMConfig) -> Insights:
    client = client_for(cfg)
    # About three characters a token is conservative for English; keep room for the prompt and the reply.
    budget = max(300, (cfg.context_tokens - cfg.max_output_tokens - len(SYSTEM) // 3 - 200) * 3)
    results = []
    parts = chunks(transcript_lines(meeting), budget)
    for n, part in enumerate(parts, 1):
        results += _extract_part(client, cfg, meeting, ref, part, n, len(parts), depth=0)
    return _merge(meeting, results)


def _extract_part(client, cfg, meeting, ref, part, n, total, *, depth):
    try:
        return [
            _ask(client, cfg, meeting, ref, part, f"part {n} of {total}" if total > 1 else None)
        ]
    except ContextOverflow:
        if len(part) < 2 or depth >= 4:
            raise
        half = len(part) // 2
        return _extract_part(
            client, cfg, meeting, ref, part[:half], n, total, depth=depth + 1
        ) + _extract_part(client, cfg, meeting, ref, part[half:], n, total, depth=depth + 1)


def _ask(client, cfg: LLMConfig, meeting: Meeting, ref: date, part: list[str], which: str | None):
    from pydantic import ValidationError

    from .schema import ModelInsights, response_format

    head = f"Meeting: {meeting.title}. Date: {ref:%A} {ref.isoformat()}."
    if which:
        head += f" This is {which} of the transcript; report only what is in this part."
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": head + "\n\nTranscript:\n" + "\n".join(part)},
    ]
    for attempt in range(cfg.retries + 1):
        reply = create(client, cfg, messages, lines=len(part), response_format=response_format())
        choice = reply.choices[0] if reply.choices else None
        content = (choice.message.content if choice else None) or ""
        if choice is not None and choice.finish_reason == "length":
            raise ContextOverflow("The model ran out of room before finishing its answer.")
        try:
            return ModelInsights.model_validate_json(_strip_fence(content))
        except ValidationError as exc:
            problem = str(exc).splitlines()[0] if content.strip() else "the reply was empty"
            messages += [
                {"role": "assistant", "content": content},
                {
                    "role": "user",
                    "content": f"That reply is not valid ({problem}). Reply again with only the JSON object matching the schema.",
                },
            ]
    raise LLMFailed(f"The model's reply did not match the schema after {cfg.retries + 1} attempts.")


def client_for(cfg: LLMConfig):
    """The official client for ``cfg``."""
    import openai

    return openai.OpenAI(
        base_url=cfg.base_url,
        api_key=cfg.api_key or "not-needed",
        timeout=cfg.timeout,
        max_retries=cfg.http_retries,
    )


def create(client, cfg: LLMConfig, messages: list[dict], *, lines: int, response_format=None):
    """One chat completion; the client's errors become ``LLMFailed`` subclasses (exit 6, 3, 4 or 1)."""
    import openai

    extra = {"response_format": response_format} if response_format else {}
    try:
        return client.chat.completions.create(
            model=cfg.model,
            messages=messages,
            **extra,
            temperature=cfg.temperature,
            max_tokens=cfg.max_output_tokens,
        )
    except openai.BadRequestError as exc:
        if _is_overflow(exc):
            raise ContextOverflow(
                f"The model's context is too small for {lines} transcript lines."
            ) from exc
        raise LLMMisconfigured(f"The model endpoint rejected the request: {_brief(exc)}") from exc
    except openai.APITimeoutError as exc:
        raise LLMUnreachable(
            f"The model endpoint did not answer within {cfg.timeout:g} s."
        ) from exc
    except openai.APIConnectionError as exc:
        raise LLMUnreachable(
            f"Could not reach the model endpoint {cfg.base_url or 'api.openai.com'}: {_brief(exc)}"
        ) from exc
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise LLMRefused(
            f"The model endpoint refused the API key (HTTP {exc.status_code}): {_brief(exc)}"
        ) from exc
    except openai.NotFoundError as exc:
        raise LLMMisconfigured(
            f"The model endpoint has no model {cfg.model!r} (HTTP 404): {_brief(exc)}"
        ) from exc
    except openai.APIStatusError as exc:
        kind = LLMUnreachable if exc.status_code == 429 or exc.status_code >= 500 else LLMFailed
        raise kind(f"The model endpoint failed with HTTP {exc.status_code}: {_brief(exc)}") from exc


def _strip_fence(text: str) -> str:
    m = re.match(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", text, re.DOTALL)
    return m.group(1) if m else text


def _is_overflow(exc) -> bool:
    body = getattr(exc, "body", None) or {}
    code = body.get("code") if isinstance(body, dict) else None
    text = f"{code} {exc}".lower()
    return bool(
        re.search(
            r"context_length_exceeded|context length|context window|maximum context|too many tokens|exceeds the",
            text,
        )
    )


def _brief(exc) -> str:
    return str(exc).splitlines()[0][:200]


def _merge(meeting: Meeting, results) -> Insights:
    names = {sp.id: sp.name or sp.id for sp in meeting.speakers}
    found: list[Found] = []
    for res in results:
        for item in res.action_items:
            start = None
            if item.line and 1 <= item.line <= len(meeting.segments):
                start = meeting.segments[item.line - 1].start
            elif item.quote:
                start = next(
                    (
                        s.start
                        for s in meeting.segments
                        if item.quote.lower()[:40] in s.text.lower()
                    ),
                    None,
                )
            owner = names.get(item.owner, item.owner) if item.owner else None
            found.append(Found(item.task.strip().rstrip("."), owner, item.due, item.quote, start))
    summary = " ".join(r.summary.strip() for r in results if r.summary.strip()) or None
    return Insights(
        items=merge_items(found),
        decisions=merge_texts([d.strip() for r in results for d in r.decisions if d.strip()]),
        summary=summary,
        extractor="llm",
    )
