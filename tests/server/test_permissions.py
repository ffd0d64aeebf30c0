"""Every /v1 route's permissions: 401 without a key, 403 when role or scope falls short.

The table below must name every route the application serves under /v1 (its OpenAPI
document is the list): a new route without an entry fails the suite."""

from __future__ import annotations

import re
import secrets
import uuid

import pytest
from qylon_server.app import create_app

from .harness import direct_key, settings_for

ROLES = ["member", "manager", "admin", "owner"]
SCOPES = ["read", "write", "admin"]

# (method, path, body, least role, least scope)
ROUTES = [
    ("GET", "/v1/me", None, "member", "read"),
    ("GET", "/v1/clients", None, "member", "read"),
    ("POST", "/v1/clients", {"name": "New {n}"}, "manager", "write"),
    ("GET", "/v1/clients/{client}", None, "member", "read"),
    ("PATCH", "/v1/clients/{client}", {"notes": "n"}, "manager", "write"),
    ("POST", "/v1/clients/{client}/archive", None, "manager", "write"),
    ("POST", "/v1/clients/{client}/restore", None, "manager", "write"),
    ("PUT", "/v1/meetings/{meeting}", "meeting", "member", "write"),
    ("GET", "/v1/meetings", None, "member", "read"),
    ("GET", "/v1/meetings/{meeting}", None, "member", "read"),
    ("DELETE", "/v1/meetings/{doomed}", None, "member", "write"),  # a meeting made for the call
    ("GET", "/v1/action-items", None, "member", "read"),
    ("PATCH", "/v1/action-items/{meeting}/{item}", {"status": "done"}, "member", "write"),
    ("GET", "/v1/users", None, "member", "read"),
    ("GET", "/v1/groups", None, "member", "read"),
    ("GET", "/v1/users/{owner}", None, "member", "read"),
    ("POST", "/v1/users", {"email": "new-{n}@example.com"}, "admin", "admin"),
    ("POST", "/v1/users/bulk", "bulk", "admin", "admin"),
    ("POST", "/v1/users/{victim}/deactivate", None, "admin", "admin"),
    ("POST", "/v1/users/{victim}/reactivate", None, "admin", "admin"),
    ("PATCH", "/v1/users/{victim}", {"title": "Engineer {n}"}, "admin", "admin"),
    ("POST", "/v1/groups", {"name": "Group {n}"}, "admin", "admin"),
    ("GET", "/v1/groups/{group}", None, "member", "read"),
    ("DELETE", "/v1/groups/{doomedgroup}", None, "admin", "admin"),  # a group made for the call
    ("PUT", "/v1/groups/{group}/members/{victim}", None, "admin", "admin"),
    ("DELETE", "/v1/groups/{group}/members/{victim}", None, "admin", "admin"),
    ("GET", "/v1/api-keys", None, "member", "read"),
    ("POST", "/v1/api-keys", {"name": "k", "scopes": ["read"]}, "member", "write"),
    ("GET", "/v1/audit-events", None, "admin", "admin"),
    ("GET", "/v1/events", None, "admin", "admin"),
    ("GET", "/v1/api-keys/{ownkey}", None, "member", "read"),
    ("POST", "/v1/api-keys/{ownkey}/rotate", {"grace_seconds": 3600}, "member", "write"),
    ("POST", "/v1/api-keys/{ownkey}/revoke", None, "member", "write"),
    ("GET", "/v1/workflows", None, "member", "read"),
    ("POST", "/v1/workflows", "workflow", "admin", "admin"),
    ("POST", "/v1/workflows/{workflow}/runs", {"input": {}}, "admin", "admin"),
    ("GET", "/v1/workflow-runs", None, "member", "read"),
    ("GET", "/v1/workflow-runs/{run}", None, "member", "read"),
    ("GET", "/v1/workflows/{workflow}", None, "member", "read"),
    ("POST", "/v1/workflow-runs/{run}/cancel", {}, "admin", "admin"),
    # allowed, it answers 409 here: the run is queued, not stopped (nothing to resume)
    ("POST", "/v1/workflow-runs/{run}/resume", {}, "admin", "admin"),
    (
        "POST",
        "/v1/workflow-runs/{run}/signal/{signal}",
        {"payload": {"ok": True}},
        "admin",
        "admin",
    ),
    (
        "POST",
        "/v1/workflow-runs/{run}/signals/{signal}",
        {"payload": {"ok": True}},
        "admin",
        "admin",
    ),
    ("POST", "/v1/onboarding/sequences", "sequence", "admin", "admin"),
    ("GET", "/v1/onboarding/sequences", None, "member", "read"),
    (
        "POST",
        "/v1/onboarding",
        {"email": "v{n}@example.com", "sequence": "new-consultant"},
        "admin",
        "admin",
    ),
    ("POST", "/v1/onboarding/batch", "batch", "admin", "admin"),
    ("GET", "/v1/onboarding", None, "member", "read"),
    ("POST", "/v1/onboarding/stop", {"email": "v{n}@example.com"}, "admin", "admin"),
    ("GET", "/v1/onboarding/mail-settings", None, "admin", "admin"),
    ("PUT", "/v1/onboarding/mail-settings", {"mail_from": "m{n}@example.com"}, "admin", "admin"),
    ("GET", "/v1/experiments", None, "admin", "admin"),
    ("POST", "/v1/experiments", "experiment", "admin", "admin"),
    ("GET", "/v1/experiments/{experiment}", None, "admin", "admin"),
    ("POST", "/v1/experiments/{experiment}/start", None, "admin", "admin"),
    ("POST", "/v1/experiments/{experiment}/stop", None, "admin", "admin"),
    ("POST", "/v1/experiments/{experiment}/assignments", "person", "admin", "admin"),
    ("POST", "/v1/experiments/{experiment}/conversions", "person", "admin", "admin"),
    ("GET", "/v1/experiments/{experiment}/results", None, "admin", "admin"),
    ("POST", "/v1/engagement/rules", "rule", "admin", "admin"),
    ("GET", "/v1/engagement/rules", None, "admin", "admin"),
    ("GET", "/v1/engagement/at-risk", None, "admin", "admin"),
    ("POST", "/v1/engagement/evaluate", {}, "admin", "admin"),
    ("POST", "/v1/compliance/policies", "policy", "admin", "admin"),
    ("GET", "/v1/compliance/policies", None, "admin", "admin"),
    (
        "POST",
        "/v1/compliance/assignments",
        {"policy": "perm-policy", "team": "None"},
        "admin",
        "admin",
    ),
    ("GET", "/v1/compliance/items", None, "member", "read"),
    # allowed, these answer 404 here: the item is not the caller's (nor anyone's)
    ("POST", "/v1/compliance/items/{item}/complete", {"acknowledge": True}, "member", "write"),
    ("GET", "/v1/compliance/items/{item}/evidence", None, "member", "read"),
    ("POST", "/v1/compliance/items/{item}/withdraw", {"reason": "r"}, "admin", "admin"),
    ("POST", "/v1/compliance/items/{item}/redate", {"due_date": "2027-01-04"}, "admin", "admin"),
    ("GET", "/v1/compliance/report?framework=GDPR", None, "admin", "admin"),
    ("POST", "/v1/compliance/links", "link", "admin", "admin"),
    ("GET", "/v1/webhooks", None, "admin", "admin"),
    ("POST", "/v1/webhooks", "webhook", "admin", "admin"),
    ("GET", "/v1/webhooks/{webhook}", None, "admin", "admin"),
    ("PATCH", "/v1/webhooks/{webhook}", {"description": "d{n}"}, "admin", "admin"),
    ("POST", "/v1/webhooks/{webhook}/rotate-secret", None, "admin", "admin"),
    ("POST", "/v1/webhooks/{webhook}/test", None, "admin", "admin"),
    ("GET", "/v1/webhooks/{webhook}/deliveries", None, "admin", "admin"),
    ("GET", "/v1/webhook-deliveries/{delivery}", None, "admin", "admin"),
    ("POST", "/v1/webhook-deliveries/{delivery}/redeliver", None, "admin", "admin"),
    ("DELETE", "/v1/webhooks/{doomedhook}", None, "admin", "admin"),
    ("GET", "/v1/me/notifications", None, "member", "read"),
    ("PUT", "/v1/me/notifications", {"digest_hour": 9}, "member", "write"),
    ("GET", "/v1/notifications/defaults", None, "admin", "admin"),
    ("PUT", "/v1/notifications/defaults", {"events": []}, "admin", "admin"),
    ("GET", "/v1/reports/meetings", None, "member", "read"),
    ("GET", "/v1/reports/onboarding", None, "admin", "admin"),
    ("GET", "/v1/reports/experiments", None, "admin", "admin"),
    ("POST", "/v1/reports/dashboard-link", None, "member", "read"),
    ("GET", "/v1/integrations", None, "admin", "admin"),
    # allowed, these answer 422 and 404 here: the test server has no integration plugins
    (
        "PUT",
        "/v1/integrations/{integration}",
        {"credentials": {"access_token": "t"}},
        "admin",
        "admin",
    ),
    ("DELETE", "/v1/integrations/{integration}", None, "admin", "admin"),
    ("POST", "/v1/transcription-jobs?filename=perm.wav", "audio", "member", "write"),
    ("GET", "/v1/transcription-jobs", None, "member", "read"),
    ("GET", "/v1/transcription-jobs/{job}", None, "member", "read"),
    # only its submitter (the owner here) or an admin with the admin scope cancels a job
    ("POST", "/v1/transcription-jobs/{doomedjob}/cancel", None, "admin", "admin"),
    # the worker's routes: the transcribe scope (tests/server/test_transcription_jobs.py),
    # or the admin scope, which holds every permission
    ("POST", "/v1/transcription-jobs/claim", {"worker": "perm-{n}"}, "member", "admin"),
    # allowed, these answer 409 here: the caller holds no lease on the job
    ("POST", "/v1/transcription-jobs/{job}/renew", {"lease": "none"}, "member", "admin"),
    ("GET", "/v1/transcription-jobs/{job}/audio?lease=none", None, "member", "admin"),
    ("POST", "/v1/transcription-jobs/{job}/complete", "completion", "member", "admin"),
    ("POST", "/v1/transcription-jobs/{job}/fail", {"lease": "x", "error": "e"}, "member", "admin"),
]

HOOK = {"url": "https://hooks.example.com/perm", "event_types": ["client.created"]}

POLICY = """
name: perm-policy{n}
version: 1
title: Permissions
frameworks: [GDPR]
items:
  - {{id: read-it, title: Read it, kind: acknowledge, due: 1d, document: The text.}}
"""

WORKFLOW = """
name: perm-flow{n}
version: 1
steps:
  - name: tell
    action: notify
    with:
      to: someone@example.com
      subject: hello
"""


def meeting_body(meeting_id: str, client: str | None = None) -> dict:
    return {
        "id": meeting_id,
        "title": "Weekly sync",
        "client": client,
        "created_at": "2026-11-20T10:00:00Z",
        "duration_s": 60.0,
        "speakers": [{"id": "SPEAKER_1", "name": "Ana", "talk_time_s": 30.0}],
        "segments": [{"start": 0.0, "end": 2.5, "speaker": "SPEAKER_1", "text": "Let us begin."}],
        "action_items": [
            {"id": "a1", "owner": "Ana", "task": "Send the proposal", "status": "open"}
        ],
    }


def fill(path: str, ids: dict) -> str:
    return path.format(**ids)


def shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path.split("?")[0])


def test_the_table_names_every_route_of_the_application(backend):
    """Routes come from the application itself, so none can be left out of the table."""
    paths = create_app(settings_for(backend)).openapi()["paths"]
    served = {
        (method.upper(), shape(path))
        for path, ops in paths.items()
        if path.startswith("/v1/")
        for method in ops
    }
    listed = {(method, shape(path)) for method, path, *_ in ROUTES}
    assert served - listed == set(), "routes without an entry in ROUTES"
    assert listed - served == set(), "entries for routes the application does not serve"


def _sequence() -> dict:
    from pathlib import Path

    from qylon_cli.sequence_defs import bundle

    path = Path(__file__).parents[2] / "config/sequences/new-consultant.yaml"
    return bundle(path).model_dump()


def payload_for(body, ids: dict):
    if body == "meeting":
        return meeting_body(ids["meeting"], "Acme")
    if body == "workflow":
        return {"text": WORKFLOW.format(n=ids["n"])}
    if body == "sequence":
        return _sequence()
    if body == "experiment":
        variants = [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]
        return {
            "name": f"perm-exp-{ids['n']}",
            "target_kind": "template",
            "target": "welcome",
            "variants": variants,
        }
    if body == "rule":
        return {"text": f"name: perm-rule-{ids['n']}\nversion: 1\nwhen: {{no_activity_for: 7d}}\n"}
    if body == "person":
        return {"user_id": ids["owner"]}
    if body == "policy":
        return {"text": POLICY.format(n=ids["n"])}
    if body == "link":
        return {"user": ids["owner"]}
    if body == "webhook":
        return HOOK
    if body == "completion":
        return {"lease": "none", "meeting": meeting_body(ids["meeting"])}
    if body == "batch":
        return {"items": [{"user": f"v{ids['n']}@example.com", "sequence": "new-consultant"}]}
    if body == "bulk":
        return {"items": [{"action": "create", "email": f"bulk-{ids['n']}@example.com"}]}
    if isinstance(body, dict):
        return {k: (v.format(n=ids["n"]) if isinstance(v, str) else v) for k, v in body.items()}
    return None


@pytest.fixture
def world(api, org):
    owner = org.token
    client = api.post("/v1/clients", owner, json={"name": "Acme"}).json()["id"]
    group = api.post("/v1/groups", owner, json={"name": "Everyone"}).json()["id"]
    meeting = str(uuid.uuid4())
    assert (
        api.put(f"/v1/meetings/{meeting}", owner, json=meeting_body(meeting, "Acme")).status_code
        == 201
    )
    policy = api.post("/v1/compliance/policies", owner, json={"text": POLICY.format(n="")})
    assert policy.status_code == 201, policy.text
    made = api.post("/v1/workflows", owner, json={"text": WORKFLOW.format(n="")})
    assert made.status_code == 201, made.text
    made = api.post("/v1/onboarding/sequences", owner, json=_sequence())
    assert made.status_code == 201, made.text
    experiment = payload_for("experiment", {"n": "world"})
    assert api.post("/v1/experiments", owner, json=experiment).status_code == 201
    assert api.post("/v1/experiments/perm-exp-world/start", owner).status_code == 200
    run = api.post("/v1/workflows/perm-flow/runs", owner, json={"input": {}})
    assert run.status_code == 202, run.text
    hook = api.post("/v1/webhooks", owner, json=HOOK)
    assert hook.status_code == 201, hook.text
    test = api.post(f"/v1/webhooks/{hook.json()['id']}/test", owner)
    assert test.status_code == 202, test.text
    job = _submit_job(api, owner)
    keys = {
        (role, scope): api.make_user(owner, role, [scope])
        for role in ROLES
        for scope in SCOPES
        if not (scope == "admin" and role in ("member", "manager"))
    }
    return {
        "owner": owner,
        "client": client,
        "meeting": meeting,
        "group": group,
        "keys": keys,
        "org": org,
        "workflow": "perm-flow",
        "run": run.json()["id"],
        "experiment": "perm-exp-world",
        "webhook": hook.json()["id"],
        "delivery": test.json()["id"],
        "job": job,
    }


def _submit_job(api, token) -> str:
    made = api.post(
        "/v1/transcription-jobs?filename=perm.wav",
        token,
        content=b"RIFF perm audio",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


def test_no_key_is_401_everywhere(api, world):
    ids = {
        "client": world["client"],
        "meeting": world["meeting"],
        "owner": world["org"].owner_id,
        "victim": world["org"].owner_id,
        "ownkey": str(uuid.uuid4()),
        "item": "a1",
        "n": 0,
        "doomed": world["meeting"],
        "group": world["group"],
        "doomedgroup": world["group"],
        "workflow": world["workflow"],
        "run": world["run"],
        "signal": "go",
        "experiment": world["experiment"],
        "webhook": world["webhook"],
        "delivery": world["delivery"],
        "doomedhook": world["webhook"],
        "integration": "hubspot",
        "job": world["job"],
        "doomedjob": world["job"],
    }
    for method, path, body, *_ in ROUTES:
        r = api.call(method, fill(path, ids), None, json=None if body is None else {})
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"]["code"] == "not_authenticated"
        bad = api.call(method, fill(path, ids), "qyl_live_deadbeef_notarealkeynotarealkey", json={})
        assert bad.status_code == 401, (method, path)


@pytest.mark.slow
def test_every_route_checks_role_and_scope(api, world, backend):
    n = 0
    for (role, scope), token in world["keys"].items():
        me = api.get("/v1/me", token).json()["user"]["id"]
        # a spare key of the same user to rotate and revoke: the caller's own key stays unrotated
        spare = direct_key(backend, world["org"].id, me, ["read"])
        ownkey = api.get("/v1/me", spare).json()["key"]["id"]
        for method, path, body, least_role, least_scope in ROUTES:
            n += 1
            victim = None
            if "{victim}" in path or body == "batch" or "v{n}@" in str(body):
                # the user to act on, v{n}@example.com, made only for the routes that name one
                made = api.post("/v1/users", world["owner"], json={"email": f"v{n}@example.com"})
                victim = made.json()["id"]
            ids = {
                "client": world["client"],
                "meeting": world["meeting"],
                "owner": world["org"].owner_id,
                "victim": victim,
                "ownkey": ownkey,
                "item": "a1",
                "n": n,
                "doomed": None,
                "group": world["group"],
                "doomedgroup": None,
                "workflow": world["workflow"],
                "run": world["run"],
                "signal": "go",
                "experiment": world["experiment"],
                "webhook": world["webhook"],
                "delivery": world["delivery"],
                "doomedhook": None,
                "integration": "hubspot",
                "job": world["job"],
                "doomedjob": None,
            }
            if "{doomedjob}" in path:
                ids["doomedjob"] = _submit_job(api, world["owner"])
            if "{doomedhook}" in path:
                made = api.post("/v1/webhooks", world["owner"], json=HOOK)
                assert made.status_code == 201, made.text
                ids["doomedhook"] = made.json()["id"]
            if "{doomedgroup}" in path:
                made = api.post("/v1/groups", world["owner"], json={"name": f"Doomed {n}"})
                assert made.status_code == 201, made.text
                ids["doomedgroup"] = made.json()["id"]
            if "{doomed}" in path:
                ids["doomed"] = str(uuid.uuid4())
                made = api.put(
                    f"/v1/meetings/{ids['doomed']}",
                    world["owner"],
                    json=meeting_body(ids["doomed"]),
                )
                assert made.status_code < 400, made.text
            headers = {"Idempotency-Key": f"perm-{secrets.token_hex(8)}"} if body == "bulk" else {}
            if body == "audio":
                send = {
                    "content": b"RIFF perm audio",
                    "headers": {**headers, "Content-Type": "application/octet-stream"},
                }
            else:
                payload = payload_for(body, {**ids, "meeting": world["meeting"]})
                send = {"json": payload, "headers": headers}
            r = api.call(method, fill(path, ids), token, **send)
            allowed = ROLES.index(role) >= ROLES.index(least_role) and SCOPES.index(
                scope
            ) >= SCOPES.index(least_scope)
            if allowed:
                settled = (
                    r.status_code < 400
                    or (path.endswith("/resume") and r.status_code == 409)
                    # no item "a1": allowed through, then not found
                    or ("/compliance/items/{item}/" in path and r.status_code == 404)
                    # no integration plugin on this server: allowed through, then refused
                    or ("/v1/integrations/" in path and r.status_code in (404, 422))
                    or ("/transcription-jobs/{job}/" in path and r.status_code == 409)
                )
                assert settled, (role, scope, method, path, r.status_code, r.text)
            else:
                assert r.status_code == 403, (role, scope, method, path, r.status_code, r.text)
                assert r.json()["error"]["code"] == "not_allowed"
