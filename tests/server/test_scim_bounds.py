"""SCIM filters that SQL cannot narrow are checked in memory against a bounded number of
resources; beyond it the server answers 400 tooMany instead of loading the organisation."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from .harness import Api, new_org, running


def test_filters_sql_cannot_narrow_are_bounded(backend):
    org = new_org(backend)
    with running(backend, scim_filter_max_scan=40) as server:
        api = Api(server.url)
        items = [
            {
                "action": "create",
                "email": f"u{i:03d}@example.com",
                "fields": {"title": "Engineer" if i % 2 else "Lead"},
            }
            for i in range(60)
        ]
        assert (
            api.post(
                "/v1/users/bulk",
                org.token,
                json={"items": items},
                headers={"Idempotency-Key": f"k-{secrets.token_hex(8)}"},
            ).status_code
            == 200
        )
        key = api.post("/v1/api-keys", org.token, json={"name": "idp", "scopes": ["scim"]}).json()[
            "token"
        ]

        def search(expression):
            return api.get(f"/scim/v2/Users?filter={quote(expression)}", key)

        wide = search(
            'nickName pr or title eq "Engineer"'
        )  # nickName: not a column, every user a candidate
        assert wide.status_code == 400 and wide.json()["scimType"] == "tooMany", wide.text
        assert "40" in wide.json()["detail"]
        narrowed = search(
            'title eq "Engineer" and nickName pr'
        )  # SQL keeps 30 candidates: under the bound
        assert narrowed.status_code == 200 and narrowed.json()["totalResults"] == 0
        exact = search('userName eq "u007@example.com"')
        assert exact.status_code == 200 and exact.json()["totalResults"] == 1
