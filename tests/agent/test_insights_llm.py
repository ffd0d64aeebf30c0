"""The LLM extractor: the real openai client against an OpenAI-compatible server on loopback.

The commands run the real subprocess, but two in test_import_with_the_model_and_with_the_model_down,
which run in-process (``qylon_here``); its import with the model down (exit 6) stays real."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
from qylon_agent import insights

from .openai_server import Behaviour, OpenAIServer, completion, error
from .transcripts import make_meeting

GOOD = {
    "action_items": [
        {
            "owner": "Bob",
            "task": "Send the migration report to the chief accountant",
            "due": "2026-11-27",
            "quote": "Bob, could you send the migration report to their chief accountant by Friday?",
            "line": 3,
        },
        {
            "owner": "SPEAKER_3",
            "task": "Update the project plan",
            "due": "2026-11-30",
            "quote": "I will update the project plan",
            "line": 5,
        },
    ],
    "decisions": ["Move the go-live date to the end of the month."],
    "summary": "The team reviewed the Acme onboarding and agreed next steps.",
}


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture
def env(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("QYLON_LLM_MODEL", "test-model")
    monkeypatch.setenv("QYLON_LLM_HTTP_RETRIES", "0")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    return server


def run(**kw):
    from qylon_cli import settings

    warnings: list[str] = []
    result = insights.analyze(make_meeting(), settings=settings.load(), warn=warnings.append, **kw)
    return result, warnings


def test_request_and_structured_reply(env):
    env.default = Behaviour(completion(json.dumps(GOOD)))
    result, warnings = run()
    assert warnings == [] and result.extractor == "llm"
    assert len(env.requests) == 1 and env.paths == ["/v1/chat/completions"]
    req = env.requests[0]
    assert req["model"] == "test-model"
    assert [m["role"] for m in req["messages"]] == ["system", "user"]
    user = req["messages"][1]["content"]
    assert "Wednesday 2026-11-25" in user
    assert "L3 [00:10] Alice: Bob, could you send the migration report" in user
    fmt = req["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert (
        schema["required"] == ["action_items", "decisions", "summary"]
        and schema["additionalProperties"] is False
    )
    by_owner = {i.owner: i for i in result.items}
    # Labels the model echoes back become names; the line number gives the time.
    assert set(by_owner) == {"Bob", "Carol"}
    assert by_owner["Bob"].due.isoformat() == "2026-11-27" and by_owner["Bob"].start == 10.0
    assert by_owner["Carol"].start == 20.0
    assert result.decisions == ["Move the go-live date to the end of the month."]
    assert result.summary.startswith("The team reviewed")


def test_invalid_json_is_retried_with_the_error(env):
    env.queue = [
        Behaviour(completion("Sure! Here are the items: Bob sends the report.")),
        Behaviour(completion("```json\n" + json.dumps(GOOD) + "\n```")),
    ]
    result, warnings = run()
    assert warnings == [] and result.extractor == "llm" and len(result.items) == 2
    retry = env.requests[1]["messages"]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert "not valid" in retry[3]["content"]


def test_output_that_never_validates_falls_back_to_offline(env):
    bad = dict(
        GOOD,
        action_items=[
            {"owner": "Bob", "task": "x", "due": "next Friday", "quote": None, "line": 1}
        ],
    )
    env.default = Behaviour(completion(json.dumps(bad)))
    result, warnings = run()
    assert len(env.requests) == 2  # one retry (llm.retries = 1)
    assert result.extractor == "offline" and "did not match the schema" in warnings[0]
    assert {i.owner for i in result.items} == {"Bob", "Carol", "Alice"}


def test_http_500_falls_back_with_a_warning(env):
    env.default = Behaviour(error("boom", type_="server_error"), status=500)
    result, warnings = run()
    assert result.extractor == "offline" and len(result.items) == 3
    assert "HTTP 500" in warnings[0] and "offline extractor" in warnings[0]


def test_timeout_falls_back(env, monkeypatch):
    monkeypatch.setenv("QYLON_LLM_TIMEOUT", "0.5")
    env.default = Behaviour(completion(json.dumps(GOOD)), delay=3)
    result, warnings = run()
    assert result.extractor == "offline"
    assert "did not answer within 0.5 s" in warnings[0]


def test_context_overflow_splits_and_merges(env):
    def answer(request):
        lines = [ln for ln in request["messages"][1]["content"].splitlines() if ln.startswith("L")]
        if len(lines) > 3:
            return 400, error(
                f"This model's maximum context length is 100 tokens; you sent {len(lines) * 40}.",
                code="context_length_exceeded",
            )
        items = [
            {
                "owner": "Bob",
                "task": "Send the migration report",
                "due": "2026-11-27",
                "quote": None,
                "line": 3,
            }
        ]
        if any(
            ln.startswith("L4 ") for ln in lines
        ):  # the acceptance is in this part too: the same item again
            items.append(
                {
                    "owner": "Bob",
                    "task": "send the migration report",
                    "due": None,
                    "quote": "Yes, I can do that.",
                    "line": 4,
                }
            )
        return 200, completion(
            json.dumps({"action_items": items, "decisions": [], "summary": f"{len(lines)} lines."})
        )

    env.default = Behaviour(fn=answer)
    result, warnings = run()
    assert warnings == [] and result.extractor == "llm"
    assert len(env.requests) > 2
    assert [(i.owner, i.due.isoformat()) for i in result.items] == [("Bob", "2026-11-27")]


def test_small_context_is_split_before_asking(env, monkeypatch):
    monkeypatch.setenv("QYLON_LLM_CONTEXT_TOKENS", "2200")
    monkeypatch.setenv("QYLON_LLM_MAX_OUTPUT_TOKENS", "1500")
    env.default = Behaviour(
        completion(json.dumps({"action_items": [], "decisions": ["Ship it."], "summary": "Part."}))
    )
    result, _ = run()
    assert len(env.requests) >= 2
    assert "part 1 of" in env.requests[0]["messages"][1]["content"]
    assert result.decisions == ["Ship it."] and result.summary.startswith("Part. Part.")


def test_unreachable_endpoint_fails_when_asked_for_and_falls_back_when_allowed(monkeypatch):
    from qylon_agent.insights.llm import LLMUnreachable

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("QYLON_LLM_MODEL", "m")
    monkeypatch.setenv("QYLON_LLM_HTTP_RETRIES", "0")
    with pytest.raises(
        LLMUnreachable, match="Could not reach the model endpoint http://127.0.0.1:9/v1"
    ) as exc:
        run(extractor="llm")
    assert exc.value.exit_code == 6
    result, warnings = run(extractor="llm", fallback="offline")
    assert result.extractor == "offline" and "Could not reach" in warnings[0]
    result, warnings = (
        run()
    )  # auto: the model is configured, so it is tried, and the offline extractor takes over
    assert (
        result.extractor == "offline"
        and len(result.items) == 3
        and "offline extractor" in warnings[0]
    )


def _clear_llm_env(monkeypatch):
    for var in (
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_MODEL",
        "QYLON_LLM_MODEL",
        "QYLON_LLM_BASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


def test_not_configured(monkeypatch):
    from qylon_agent.insights.llm import LLMMisconfigured

    _clear_llm_env(monkeypatch)
    assert insights.choose(None) == "offline"
    result, warnings = run()
    assert result.extractor == "offline" and warnings == []
    with pytest.raises(LLMMisconfigured, match="no model endpoint") as exc:
        run(extractor="llm")
    assert exc.value.exit_code == 3 and "OPENAI_API_KEY" in exc.value.hint


def test_the_message_names_the_missing_piece(monkeypatch):
    from qylon_agent.insights import llm

    _clear_llm_env(monkeypatch)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cfg, missing = llm.resolve(None)
    assert (
        cfg is None
        and "no model name for http://127.0.0.1:11434/v1" in missing
        and "OPENAI_MODEL" in missing
    )
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_MODEL", "llama3.1:8b")
    cfg, missing = llm.resolve(None)
    assert cfg is None and "no endpoint or key for model 'llama3.1:8b'" in missing


def test_an_api_key_alone_uses_openai_with_the_default_model(monkeypatch):
    from qylon_agent.insights import llm

    _clear_llm_env(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cfg = llm.config(None)
    assert (
        cfg.model == llm.DEFAULT_MODEL == "gpt-4o-mini"
        and cfg.base_url is None
        and cfg.api_key == "sk-test"
    )
    assert insights.choose(None) == "llm"


@pytest.mark.parametrize(
    ("status", "body", "exit_code", "words"),
    [
        (
            401,
            error(
                "Incorrect API key provided", type_="invalid_request_error", code="invalid_api_key"
            ),
            4,
            "refused the API key",
        ),
        (
            404,
            error("model 'nope' not found", type_="invalid_request_error", code="model_not_found"),
            3,
            "has no model",
        ),
        (503, error("overloaded", type_="server_error"), 6, "HTTP 503"),
    ],
)
def test_explicit_llm_errors_carry_their_exit_codes(env, status, body, exit_code, words):
    from qylon_agent.insights.llm import LLMFailed

    env.default = Behaviour(body, status=status)
    with pytest.raises(LLMFailed, match=words) as exc:
        run(extractor="llm")
    assert exc.value.exit_code == exit_code


@pytest.mark.slow
def test_cli_analyze_with_llm_and_fallback(env, qylon):
    from qylon_agent.store.database import Store

    meeting = make_meeting()
    store = Store()
    store.save_meeting(meeting)
    store.close()
    env.default = Behaviour(completion(json.dumps(GOOD)))
    ok = qylon("meeting", "analyze", meeting.id[:8], "--json")
    assert ok.code == 0, ok.stderr
    assert ok.json["data"]["extractor"] == "llm" and len(ok.json["data"]["action_items"]) == 2
    env.default = Behaviour(error("overloaded", type_="server_error"), status=503)
    failed = qylon("meeting", "analyze", meeting.id[:8], "--extractor", "llm", "--json")
    assert (
        failed.code == 6
        and failed.json["error"]["code"] == "llm_unreachable"
        and "HTTP 503" in failed.json["error"]["message"]
    )
    assert (
        qylon("meeting", "summary", meeting.id[:8], "--json").json["data"]["extractor"] == "llm"
    )  # unchanged
    fell = qylon(
        "meeting",
        "analyze",
        meeting.id[:8],
        "--extractor",
        "llm",
        "--fallback",
        "offline",
        "--json",
    )
    assert fell.code == 0
    assert (
        fell.json["data"]["extractor"] == "offline" and len(fell.json["data"]["action_items"]) == 3
    )
    assert "HTTP 503" in fell.stderr
    assert (
        qylon("meeting", "summary", meeting.id[:8], "--json").json["data"]["extractor"] == "offline"
    )


class MemoryKeyring:
    """A keyring backend held in memory (keyring's own backend API), standing in for the OS keyring."""

    @staticmethod
    def make():
        from keyring.backend import KeyringBackend

        class Backend(KeyringBackend):
            priority = 1
            store: ClassVar[dict] = {}

            def get_password(self, service, username):
                return self.store.get((service, username))

            def set_password(self, service, username, password):
                self.store[(service, username)] = password

            def delete_password(self, service, username):
                self.store.pop((service, username), None)

        return Backend()


def test_api_key_from_the_keyring_unless_env_sets_one(server, monkeypatch):
    import keyring

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring.make())
    try:
        keyring.set_password("qylon", "openai", "sk-from-keyring")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.setenv("QYLON_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("QYLON_LLM_MODEL", "m")
        server.default = Behaviour(completion(json.dumps(GOOD)))
        result, warnings = run()
        assert result.extractor == "llm" and warnings == []
        assert server.headers[-1]["authorization"] == "Bearer sk-from-keyring"
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
        run()
        assert server.headers[-1]["authorization"] == "Bearer sk-env"
    finally:
        keyring.set_keyring(previous)


@pytest.mark.slow
def test_import_with_the_model_and_with_the_model_down(
    env, qylon, qylon_here, tmp_path, monkeypatch
):
    """In-process (``qylon_here``) but for the import with the model down: the real
    subprocess and its exit code 6."""
    from .transcript_fixtures import ZOOM

    path = tmp_path / "call.vtt"
    path.write_text(ZOOM, encoding="utf-8")
    env.default = Behaviour(completion(json.dumps(GOOD)))
    ok = qylon_here("meeting", "import", str(path), "--extractor", "llm", "--json")
    assert ok.code == 0, ok.stderr
    assert (
        ok.json["data"]["action_items"][0]["task"]
        == "Send the migration report to the chief accountant"
    )
    assert (
        env.requests[-1]["messages"][1]["content"].count("Dana Lee:") == 3
    )  # the speakers' names reach the model
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    other = tmp_path / "other.vtt"  # another transcript: the same bytes would be found stored
    other.write_text(ZOOM.replace("Dana Lee", "Dana Leigh"), encoding="utf-8")
    down = qylon("meeting", "import", str(other), "--extractor", "llm", "--json")
    assert down.code == 6 and down.json["error"]["code"] == "llm_unreachable"
    assert (
        len(qylon_here("meeting", "list", "--json").json["data"]["items"]) == 2
    )  # the transcript is kept, without insights


@pytest.mark.slow
def test_an_agent_job_whose_model_is_down_keeps_the_transcript_and_is_not_run_again(env, jfk_wav):
    """A background transcription asked for --extractor llm while the model is down: the
    transcript is stored, and the job fails for good (running it again would only
    transcribe the file again); its error says where the transcript is."""
    from qylon_agent.daemon import worker
    from qylon_agent.store.database import Store

    from qylon_cli.errors import QylonError

    env.default = Behaviour(error("overloaded", type_="server_error"), status=503)
    store = Store()
    payload = {
        "path": str(jfk_wav),
        "meeting_id": "5eed0000-0000-4000-8000-00000000e6e6",
        "extractor": "llm",
    }
    with pytest.raises(QylonError) as exc:
        worker.transcribe(store, payload, lambda done, total: None)
    assert exc.value.exit_code == 6 and getattr(exc.value, "permanent", False)
    assert "5eed0000" in exc.value.hint
    assert "fellow americans" in " ".join(
        s.text.lower() for s in store.get_meeting("5eed0000").segments
    )
