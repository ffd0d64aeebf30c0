"""One validation of emails and phone numbers on every path into the server: /v1, bulk
and SCIM (issue 16): look-alike, invisible and bidi characters refused, phones in E.164."""

from __future__ import annotations

import secrets

import pytest

BAD_EMAILS = [
    "ops@a.example.",
    "ｏｐｓ@a.example",
    "o\u200bps@a.example",
    "ops\u202e@a.example",
    "o\u00adps@a.example",
]


def bulk(api, token, items):
    return api.post(
        "/v1/users/bulk",
        token,
        json={"items": items},
        headers={"Idempotency-Key": f"k-{secrets.token_hex(8)}"},
    )


@pytest.mark.parametrize("email", BAD_EMAILS)
def test_bad_emails_are_refused_on_v1_and_bulk(api, org, email):
    invite = api.post("/v1/users", org.token, json={"email": email})
    assert invite.status_code == 422, invite.text
    assert "email" in invite.json()["error"]["message"]
    r = bulk(api, org.token, [{"action": "create", "email": email}])
    assert r.status_code == 422, r.text
    assert "items.0.email" in r.json()["error"]["message"]


def test_emails_are_normalised_the_same_way_everywhere(api, org):
    made = api.post("/v1/users", org.token, json={"email": "Ana@Example.COM"})
    assert made.status_code == 201 and made.json()["email"] == "ana@example.com"
    again = bulk(api, org.token, [{"action": "create", "email": "ANA@example.com"}])
    assert again.status_code == 409  # the same address, however written


def test_phones_must_be_e164_on_bulk(api, org):
    for phone in ['=HYPERLINK("http://x.example","call")', "+1 425 555 0100", "12345", "@SUM(1)"]:
        r = bulk(
            api,
            org.token,
            [
                {
                    "action": "create",
                    "email": f"p{secrets.token_hex(2)}@example.com",
                    "fields": {"phone": phone},
                }
            ],
        )
        assert r.status_code == 422 and "fields.phone" in r.json()["error"]["message"], (
            phone,
            r.text,
        )
    ok = bulk(
        api,
        org.token,
        [{"action": "create", "email": "phone@example.com", "fields": {"phone": "+14255550100"}}],
    )
    assert ok.status_code == 200


def scim_user(email: str, phone: str) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "active": True,
        "emails": [{"value": email, "type": "work", "primary": True}],
        "phoneNumbers": [{"value": phone, "type": "work", "primary": True}],
    }


def test_scim_phones_become_e164_or_are_refused(api, org):
    key = api.post("/v1/api-keys", org.token, json={"name": "idp", "scopes": ["scim"]}).json()[
        "token"
    ]
    headers = {"Content-Type": "application/scim+json"}
    bad = api.post(
        "/scim/v2/Users",
        key,
        json=scim_user("x@example.com", '=HYPERLINK("http://evil.example")'),
        headers=headers,
    )
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidValue", bad.text
    good = api.post(
        "/scim/v2/Users", key, json=scim_user("y@example.com", "+1 (425) 555-0100"), headers=headers
    )
    assert good.status_code == 201, good.text
    stored = api.get(f"/v1/users/{good.json()['id']}", org.token).json()
    assert stored["phone"] == "+14255550100"  # what exports and the API hand on
    national = api.post(
        "/scim/v2/Users", key, json=scim_user("z@example.com", "(425) 555-0100"), headers=headers
    )
    assert (
        national.status_code == 400 and "country code" in national.json()["detail"]
    )  # no QYLON_PHONE_REGION
    look_alike = api.post(
        "/scim/v2/Users", key, json=scim_user("ｙ@example.com", "+14255550100"), headers=headers
    )
    assert look_alike.status_code == 400, look_alike.text
