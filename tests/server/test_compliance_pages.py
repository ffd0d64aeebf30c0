"""The compliance pages in a real browser (headless Chromium through Playwright, at a
desktop and a phone viewport): the checklist, acknowledging a policy (with the mouse and
with the keyboard only), uploading evidence, and tampered, expired, reused and
misdirected links. A screenshot of each page is kept (tests/server/browser.py)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from qylon_server import links

from .browser import browser, desktop, page, shot  # noqa: F401 - fixtures
from .harness import settings_for

ROOT = Path(__file__).resolve().parents[2]
GDPR = (ROOT / "config/compliance/gdpr-consultant-onboarding.yaml").read_text()
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n% GDPR essentials: completed\n"

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
def backend(team_servers):
    return team_servers.backend("sqlite")


@pytest.fixture
def person(api, org, server):
    """A new consultant with the GDPR policy assigned; their checklist's address."""
    assert api.post("/v1/compliance/policies", org.token, json={"text": GDPR}).status_code in (
        200,
        201,
    )
    user = api.post("/v1/users", org.token, json={"email": "new@firm.example"}).json()
    manager = api.post("/v1/users", org.token, json={"email": "boss@firm.example", "role": "manager", "team": "Delivery"}).json()  # fmt: skip
    r = api.post("/v1/compliance/assignments", org.token, json={"policy": "gdpr-consultant-onboarding", "all": True})  # fmt: skip
    assert r.status_code == 200, r.text
    address = api.post("/v1/compliance/links", org.token, json={"user": user["id"]}).json()
    parts = urlsplit(address["checklist"])
    return {
        "user": user,
        "manager": manager,
        "checklist": f"{server.url}{parts.path}?{parts.query}",
    }


def _items(api, org, user_id):
    return {
        i["item"]: i
        for i in api.get(f"/v1/compliance/items?user={user_id}", org.token).json()["items"]
    }


def test_checklist_acknowledge_and_upload(page, person, api, org):  # noqa: F811
    page.goto(person["checklist"])
    assert page.title().startswith("Your onboarding checklist")
    assert page.get_by_text("Read and accept the data protection policy", exact=True).is_visible()
    assert (
        page.get_by_text("Read the data processing agreement of your client").count() == 0
    )  # not hers
    # nothing wider than the phone: readable without sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    training = page.get_by_role(
        "link", name="Open the training Finish the GDPR essentials training (45 minutes)"
    )
    assert training.get_attribute("href") == "https://learning.firm.example/courses/gdpr-essentials"
    shot(page, "checklist")
    page.get_by_role(
        "link", name="Read and accept for Read and accept the data protection policy"
    ).click()
    assert page.get_by_text("Collect only the personal data").is_visible()
    shot(page, "acknowledge")
    ack_url = page.url
    page.get_by_label("I have read and accept this document").check()
    page.get_by_role("button", name="Acknowledge").click()
    assert page.get_by_role("status").inner_text().startswith("Thank you")
    shot(page, "acknowledged")
    item = _items(api, org, person["user"]["id"])["data-protection-policy"]
    assert item["status"] == "completed" and item["evidence_sha256"]
    # the link again: it says so, and acts once
    page.goto(ack_url)
    assert page.get_by_role("status").inner_text() == "You have already acknowledged this policy."
    replay = httpx2.post(ack_url, data={"accept": "yes"})
    assert replay.status_code == 409 and "already acknowledged" in replay.text
    events = api.get("/v1/events?type=compliance.item_completed", org.token).json()
    assert len([e for e in events["items"] if e["data"]["item_id"] == item["id"]]) == 1
    page.get_by_role("link", name="Back to your checklist").click()
    page.get_by_role(
        "link", name="Upload evidence for Finish the GDPR essentials training (45 minutes)"
    ).click()
    shot(page, "evidence")
    page.get_by_label("Your file").set_input_files(
        {"name": "certificate.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    page.get_by_role("button", name="Upload").click()
    assert page.get_by_role("status").inner_text().startswith("Thank you")
    assert hashlib.sha256(PDF).hexdigest() in page.content()
    shot(page, "evidence-done")
    assert (
        _items(api, org, person["user"]["id"])["gdpr-training"]["evidence_sha256"]
        == hashlib.sha256(PDF).hexdigest()
    )


def test_a_wrong_file_is_refused_on_the_page(desktop, person, api, org):  # noqa: F811
    desktop.goto(person["checklist"])
    desktop.get_by_role(
        "link", name="Upload evidence for Finish the GDPR essentials training (45 minutes)"
    ).click()
    desktop.get_by_label("Your file").set_input_files(
        {"name": "certificate.pdf", "mimeType": "application/pdf", "buffer": b"MZ not a pdf"}
    )
    desktop.get_by_role("button", name="Upload").click()
    assert "not application/pdf" in desktop.get_by_role("alert").inner_text()
    shot(desktop, "evidence-refused")
    assert _items(api, org, person["user"]["id"])["gdpr-training"]["status"] == "assigned"


def test_keyboard_only_acknowledge(page, person, api, org):  # noqa: F811
    page.goto(person["checklist"])
    for _ in range(12):  # Tab to the first item's link, then Enter
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").startswith("Read and accept"):
            break
    page.keyboard.press("Enter")
    page.wait_for_selector("form")
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "accept":
            break
    assert page.evaluate("document.activeElement.id") == "accept"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Acknowledge"
    page.keyboard.press("Enter")
    page.wait_for_selector("[role=status]")
    shot(page, "keyboard-acknowledged")
    assert _items(api, org, person["user"]["id"])["data-protection-policy"]["status"] == "completed"


class _LastMonth(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 30 * 24 * 3600


def test_tampered_expired_and_misdirected_links(page, person, api, org, backend):  # noqa: F811
    settings = settings_for(backend)
    base = person["checklist"].split("/p/")[0]
    tampered = person["checklist"][:-4] + (
        "AAAA" if not person["checklist"].endswith("AAAA") else "BBBB"
    )
    page.goto(tampered)
    assert page.title().startswith("This link is not valid")
    assert "new@firm.example" not in page.content()
    shot(page, "link-tampered")
    old = URLSafeTimedSerializer(
        settings.link_key(), salt="qylon.link.checklist", signer=_LastMonth
    ).dumps({"o": org.id, "u": person["user"]["id"]})
    response = page.goto(f"{base}/p/checklist?t={old}")
    assert response.status == 410 and page.title().startswith("This link has expired")
    shot(page, "link-expired")
    # a genuine link of one person naming another person's item shows nothing of it
    boss_item = _items(api, org, person["manager"]["id"])["client-dpa"]
    crossed = links.sign(
        settings, links.Link("acknowledge", org.id, person["user"]["id"], boss_item["id"])
    )
    response = page.goto(f"{base}/p/acknowledge?t={crossed}")
    assert response.status == 400 and "processor" not in page.content()
    # a form posted without its link is stopped before its body is read
    assert httpx2.post(f"{base}/p/acknowledge", data={"accept": "yes"}).status_code == 401
    # a link made for another page is refused too
    response = page.goto(person["checklist"].replace("/p/checklist", "/p/evidence"))
    assert response.status == 400
