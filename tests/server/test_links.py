"""Signed links: bound to purpose, organisation and person; tampering and age refused."""

from __future__ import annotations

import time

import pytest
from itsdangerous import URLSafeTimedSerializer
from qylon_server import links
from qylon_server.config import ServerSettings

SETTINGS = ServerSettings(secret_key="k" * 40, public_url="https://qylon.example.com/")
LINK = links.Link(purpose="acknowledge", org_id="org-a", user_id="user-1", subject="item-7")


def test_a_link_reads_back_as_it_was_made():
    token = links.sign(SETTINGS, LINK)
    assert links.read(SETTINGS, token, purpose="acknowledge") == LINK
    address = links.url(SETTINGS, LINK, "/p/acknowledge")
    assert address.startswith("https://qylon.example.com/p/acknowledge?t=")


def test_another_purpose_or_key_is_refused():
    token = links.sign(SETTINGS, LINK)
    with pytest.raises(links.LinkInvalid):
        links.read(SETTINGS, token, purpose="unsubscribe")
    other = ServerSettings(secret_key="z" * 40)
    with pytest.raises(links.LinkInvalid):
        links.read(other, token, purpose="acknowledge")


def test_a_changed_claim_is_refused():
    # the same payload shape signed with a guessed key: another person's id
    forged = URLSafeTimedSerializer(b"guess", salt="qylon.link.acknowledge").dumps(
        {"o": "org-a", "u": "user-2"}
    )
    with pytest.raises(links.LinkInvalid):
        links.read(SETTINGS, forged, purpose="acknowledge")
    token = links.sign(SETTINGS, LINK)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(links.LinkInvalid):
        links.read(SETTINGS, flipped, purpose="acknowledge")


def test_an_old_link_expires():
    token = links.sign(SETTINGS, LINK)
    time.sleep(1.1)
    with pytest.raises(links.LinkExpired):
        links.read(SETTINGS, token, purpose="acknowledge", max_age_s=0)
    assert links.read(SETTINGS, token, purpose="acknowledge", max_age_s=60).user_id == "user-1"


def test_a_bad_link_gets_a_page_not_an_error_document():
    from qylon_server import pages

    expired = pages.link_problem(links.LinkExpired("old"))
    assert expired.status_code == 410 and b"This link has expired" in expired.body
    assert expired.headers["cache-control"] == "no-store"
    invalid = pages.link_problem(links.LinkInvalid("bad"))
    assert invalid.status_code == 400 and b'<html lang="en">' in invalid.body
