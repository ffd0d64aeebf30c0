"""Routes that run in one trip through the thread pool (``one_trip``) answer as routes
with ``Allowed`` do: the key and the permission are checked before FastAPI's 422."""

from __future__ import annotations

import uuid

from qylon_cli.schemas import ClientPage

from .test_permissions import meeting_body

BAD_KEY = "qyl_live_x_" + "y" * 30


def test_a_bad_key_or_a_missing_permission_comes_before_invalid_parameters(api, org):
    assert api.get("/v1/clients?limit=0", BAD_KEY).status_code == 401
    assert api.get("/v1/clients?limit=0").status_code == 401
    worker = api.post("/v1/api-keys", org.token, json={"name": "w", "scopes": ["transcribe"]})
    no_read = worker.json()["token"]
    assert api.get("/v1/clients?limit=0", no_read).status_code == 403
    invalid = api.get("/v1/clients?limit=0", org.token)
    assert invalid.status_code == 422 and "limit" in invalid.json()["error"]["message"]
    mid = str(uuid.uuid4())
    assert api.put(f"/v1/meetings/{mid}", BAD_KEY, json={"id": 1}).status_code == 401
    reader = api.post("/v1/api-keys", org.token, json={"name": "r", "scopes": ["read"]})
    no_write = reader.json()["token"]
    assert api.put(f"/v1/meetings/{mid}", no_write, json={"id": 1}).status_code == 403
    assert api.put(f"/v1/meetings/{mid}", no_write, json=meeting_body(mid)).status_code == 403
    not_json = api.put(
        f"/v1/meetings/{mid}",
        BAD_KEY,
        content=b'{"id": ',
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 422  # a body that is not JSON is refused first, as before


def test_a_refused_request_keeps_nothing_authentication_wrote(api, org):
    key = api.post("/v1/api-keys", org.token, json={"name": "fresh", "scopes": ["read"]}).json()
    assert api.get("/v1/clients?limit=0", key["token"]).status_code == 422
    seen = api.get(f"/v1/api-keys/{key['id']}", org.token).json()
    assert seen["last_used_at"] is None  # the first use's stamp rolled back with the request
    assert api.get("/v1/clients?limit=1", key["token"]).status_code == 200
    assert api.get(f"/v1/api-keys/{key['id']}", org.token).json()["last_used_at"] is not None


def test_the_clients_page_is_the_bytes_of_its_wire_model(api, org):
    """The list writes its rows as JSON without the model (api/clients.py): each answer is
    byte for byte what ``ClientPage`` makes of it, archived clients, tags, notes and
    timestamps with microseconds included."""
    made = [
        api.post("/v1/clients", org.token, json=body).json()
        for body in (
            {"name": "Zeta Ltd", "domain": "zeta.example", "tags": ["retail", "uk"]},
            {"name": "Alpha Zürich GmbH", "notes": 'Prefers "quotes" and\nnew lines'},
            {"name": "Beta", "tags": []},
        )
    ]
    assert api.post(f"/v1/clients/{made[2]['id']}/archive", org.token).status_code == 200
    for query in ("", "?status=all", "?status=archived", "?q=zeta", "?tag=uk", "?limit=1&offset=1"):
        answer = api.get(f"/v1/clients{query}", org.token)
        assert answer.status_code == 200
        page = ClientPage.model_validate_json(answer.content)
        assert answer.content == page.model_dump_json().encode()
    everyone = ClientPage.model_validate_json(api.get("/v1/clients?status=all", org.token).content)
    assert [c.name for c in everyone.items] == ["Alpha Zürich GmbH", "Beta", "Zeta Ltd"]
    assert everyone.items[1].archived_at is not None and everyone.items[1].status == "archived"
