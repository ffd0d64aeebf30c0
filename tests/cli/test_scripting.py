"""What scripts rely on, as gh has taught them: help that loses no words, --jq on every
--json command, one list shape, --paginate, and shell completion from the local store.

test_lists_share_one_shape_and_paginate, test_api_sends_authenticated_requests_and_prints_answers_as_is
and test_completion_of_commands_clients_and_meetings_offline run their commands in-process
(``run_qylon_here``: the same entry point, environment, streams and exit codes, without an
interpreter start per command), but for `qylon api` signed out (exit 4) and the first
completion, which run the real subprocess, as --jq and the completion scripts do."""

from __future__ import annotations

import importlib.util
import json
import re

from ..conftest import REPO, complete, credentials, run_qylon_here

spec = importlib.util.spec_from_file_location("gen_cli_docs", REPO / "scripts" / "gen_cli_docs.py")
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)


def test_no_help_text_loses_words_or_shows_typer_types():
    """Rich markup once ate "[models]" and "[llm]": "one in ) or", "llm ( settings)"."""
    reference = gen.render()
    remnants = {
        "an emptied pair": re.compile(r"\(\s*\)|(^|\s)\[\s*\](\s|$)"),
        "a word cut after an opening bracket": re.compile(r"[(\[] \w"),
        "a word cut before a closing bracket": re.compile(r"\w [)\]]"),
        "a Typer type": re.compile(r"<(bool|str|int|float|path)[^>]*>|\{[A-Z_]+\}"),
    }
    for what, pattern in remnants.items():
        found = [line.strip() for line in reference.splitlines() if pattern.search(line)]
        assert not found, f"{what} in docs/cli.md: {found[:3]}"
    assert "one in [models]) or a" in " ".join(reference.split())
    assert "--model TEXT" in reference and "--diarize / --no-diarize  Find" in reference


def test_every_json_command_takes_jq():
    _, found = gen.commands()
    with_json = [
        path for path, cmd in found if any("--json" in getattr(p, "opts", ()) for p in cmd.params)
    ]
    assert len(with_json) > 20
    for path, cmd in found:
        if path in with_json:
            assert any("--jq" in getattr(p, "opts", ()) for p in cmd.params), path


def test_jq_filters_and_a_bad_expression_is_a_usage_error(qylon):
    names = qylon("plugins", "list", "--jq", ".data.items[].name")
    assert names.code == 0 and sorted(names.stdout.splitlines()) == [
        "admin",
        "agent",
        "core",
        "server",
    ]
    count = qylon("plugins", "list", "--jq", ".data.total")
    assert count.stdout == "4\n"
    model = qylon(
        "config", "show", "--jq", '.data.items[] | select(.key == "transcribe.model") | .value'
    )
    assert model.code == 0 and model.stdout == "tiny.en\n"
    bad = qylon("plugins", "list", "--jq", ".data[")
    assert bad.code == 2 and bad.json["error"]["message"].startswith("--jq: syntax error")


def test_lists_share_one_shape_and_paginate(qylon_here, server, org):
    qylon = qylon_here  # in-process; the `api` and completion tests run the subprocess
    env = credentials(server.url, org.token)
    for name in ("Acme", "Globex", "Initech"):
        assert qylon("clients", "add", name, "--json", env=env).code == 0
    page = qylon("clients", "list", "--limit", "1", "--offset", "1", "--json", env=env).json
    assert {k: page["data"][k] for k in ("total", "limit", "offset")} == {
        "total": 3,
        "limit": 1,
        "offset": 1,
    }
    assert [c["name"] for c in page["data"]["items"]] == ["Globex"]
    everything = qylon("clients", "list", "--limit", "1", "--paginate", "--jq", ".data", env=env)
    data = json.loads(everything.stdout)
    assert [c["name"] for c in data["items"]] == ["Acme", "Globex", "Initech"]
    assert (data["total"], data["limit"], data["offset"]) == (3, None, 0)
    local = qylon("meeting", "list", "--json").json["data"]
    assert local == {"items": [], "total": 0, "limit": None, "offset": 0}
    users = qylon("users", "list", "--paginate", "--jq", ".data.items[].email", env=env)
    owner = f"owner@{org.name.replace(' ', '').lower()}.example"
    assert users.code == 0 and users.stdout.split() == [owner]


def test_api_sends_authenticated_requests_and_prints_answers_as_is(
    qylon_here, qylon_process, server, org, tmp_path
):
    qylon = qylon_here  # in-process; signed out below, the real subprocess
    env = credentials(server.url, org.token)
    made = qylon("api", "POST", "/v1/clients", "-f", "name=Acme", "-f", "tags[]=retail", env=env)
    assert made.code == 0, made.stderr
    client = json.loads(made.stdout)
    assert client["name"] == "Acme" and client["tags"] == ["retail"]
    # Fields make a POST unless the method is GET (then they are the query); -F types them.
    qylon("api", "v1/clients", "-f", "name=Globex", "-X", "POST", env=env)
    page = qylon("api", "GET", "/v1/clients", "-F", "limit=1", "--jq", ".items[].name", env=env)
    assert page.stdout == "Acme\n"
    every = qylon("api", "/v1/clients", "--paginate", "--jq", "[.total, .items[].name]", env=env)
    assert json.loads(every.stdout) == [2, "Acme", "Globex"]
    body = tmp_path / "patch.json"
    body.write_text(json.dumps({"notes": "Renewal in March"}))
    patched = qylon("api", "PATCH", f"/v1/clients/{client['id']}", "--input", str(body), env=env)
    assert patched.code == 0 and json.loads(patched.stdout)["notes"] == "Renewal in March"
    # Errors keep their exit codes.
    missing = qylon("api", "/v1/clients/00000000-0000-0000-0000-000000000000", "--json", env=env)
    assert missing.code == 5 and missing.json["error"]["code"] == "not_found"
    refused = qylon("api", "POST", "/v1/clients", "-F", "name=1", "-F", "tags=7", env=env)
    assert refused.code == 3
    assert qylon("api", "FETCH", "/v1/clients", env=env).code == 2
    assert qylon("api", "/v1/me", "-f", "oops", env=env).code == 2
    anonymous = qylon_process("api", "/v1/me", env={"QYLON_SERVER": server.url})
    assert anonymous.code == 4


def test_completion_scripts_for_three_shells(qylon):
    for shell, marker in (("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete")):
        result = qylon("completion", shell)
        assert result.code == 0 and marker in result.stdout and "_QYLON_COMPLETE" in result.stdout
    assert qylon("completion", "tcsh").code == 2


def test_completion_of_commands_clients_and_meetings_offline(qylon_here, server, org):
    qylon = qylon_here  # in-process, and the completions after the first (the real one)
    assert "meeting" in complete("qylon mee")
    env = credentials(server.url, org.token)
    for name in ("Acme Corp", "Acorn", "Globex"):
        qylon("clients", "add", name, env=env)
    assert qylon("sync", "--json", env=env).code == 0  # pulls the client list
    offline = {"QYLON_SERVER": "http://127.0.0.1:9"}
    assert complete("qylon meeting list --client Ac", offline, run_qylon_here) == [
        "Acme Corp",
        "Acorn",
    ]
    assert complete("qylon meeting transcribe x.wav --client Gl", offline, run_qylon_here) == [
        "Globex"
    ]

    from qylon_agent.store.database import Store

    from ..agent.transcripts import make_meeting

    meeting = make_meeting("Alice: We ship on Friday.")
    Store().save_meeting(meeting)
    assert complete(f"qylon meeting show {meeting.id[:3]}", run=run_qylon_here) == [meeting.id]
    assert complete("qylon meeting show zz", run=run_qylon_here) == []
