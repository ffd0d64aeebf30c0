"""`qylon experiments` against the real team server (SQLite and PostgreSQL): create, start,
list, results (JSON and the table, with the minimum-sample warning), stop, and the exit
codes of bad input, unknown names and keys that may not.

test_create_start_list_results_stop and test_bad_variants_and_targets_are_refused_before_any_request
run the commands in-process (``run_qylon_here``: the same entry point, environment, streams
and exit codes, without an interpreter start per command);
test_unknown_names_and_keys_that_may_not runs the real subprocess (``run_qylon``): the exit
codes of the real process."""

from __future__ import annotations

from ..conftest import credentials, run_qylon, run_qylon_here
from ..server.harness import Api


def test_create_start_list_results_stop(server, org):
    env = credentials(server.url, org.token)
    made = run_qylon_here(
        "experiments", "create", "welcome-subject", "--variants", "a=50,b=50",
        "--on", "sequence:new-consultant", "--min-sample", "5", "--json", env=env,
    )  # fmt: skip
    assert made.code == 0, made.stderr
    exp = made.json["data"]
    assert exp["status"] == "draft" and exp["target"] == "new-consultant"
    assert [v["name"] for v in exp["variants"]] == ["a", "b"]
    again = run_qylon_here(
        "experiments", "create", "welcome-subject", "--variants", "a=1,b=1",
        "--on", "template:welcome", "--json", env=env,
    )  # fmt: skip
    assert again.code == 3 and again.json["error"]["code"] == "conflict"

    started = run_qylon_here("experiments", "start", "welcome-subject", "--json", env=env)
    assert started.code == 0 and started.json["data"]["status"] == "running"
    listed = run_qylon_here("experiments", "list", "--json", env=env)
    assert [e["name"] for e in listed.json["data"]["items"]] == ["welcome-subject"]

    api = Api(server.url)
    try:
        person = api.get("/v1/me", org.token).json()["user"]["id"]
        path = "/v1/experiments/welcome-subject"
        variant = api.post(f"{path}/assignments", org.token, json={"user_id": person}).json()
        api.post(f"{path}/conversions", org.token, json={"user_id": person})
    finally:
        api.http.close()

    shown = run_qylon_here("experiments", "results", "welcome-subject", "--json", env=env)
    assert shown.code == 0, shown.stderr
    data = shown.json["data"]
    by = {v["name"]: v for v in data["variants"]}
    assert by[variant["variant"]]["exposures"] == 1 and by[variant["variant"]]["conversions"] == 1
    assert len(data["warnings"]) == 2 and "below the minimum sample of 5" in data["warnings"][0]
    human = run_qylon_here("experiments", "results", "welcome-subject", env=env)
    assert human.code == 0 and "a (control)" in human.stdout and "Warning:" in human.stdout

    stopped = run_qylon_here("experiments", "stop", "welcome-subject", "--json", env=env)
    assert stopped.code == 0 and stopped.json["data"]["status"] == "stopped"


def test_bad_variants_and_targets_are_refused_before_any_request():
    env = {"QYLON_SERVER": "http://127.0.0.1:9", "QYLON_TOKEN": "qyl_live_x_unused"}
    for variants, on in (("a=50", "sequence:x"), ("a=x,b=1", "sequence:x"), ("a=1,b=1", "x")):
        bad = run_qylon_here(
            "experiments", "create", "e", "--variants", variants, "--on", on, "--json", env=env
        )
        assert bad.code == 3 and bad.json["error"]["code"] == "invalid_input", bad.stdout


def test_unknown_names_and_keys_that_may_not(server, org):
    env = credentials(server.url, org.token)
    missing = run_qylon("experiments", "results", "nothing", "--json", env=env)
    assert missing.code == 5
    api = Api(server.url)
    try:
        member = api.make_user(org.token, "member")
    finally:
        api.http.close()
    refused = run_qylon("experiments", "list", "--json", env=credentials(server.url, member))
    assert refused.code == 4
