"""`qylon compliance`: the real command against the real server (SQLite; the API's rules
are tested on both engines in test_compliance.py): validate, upload, assign, status,
complete with evidence, report as CSV, Markdown and PDF, and the exit codes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ..conftest import credentials, run_qylon

ROOT = Path(__file__).resolve().parents[2]
GDPR = ROOT / "config/compliance/gdpr-consultant-onboarding.yaml"


@pytest.fixture
def backend(team_servers):
    return team_servers.backend("sqlite")


def test_compliance_commands_end_to_end(server, org, api, tmp_path):
    env = credentials(server.url, org.token)
    bad = tmp_path / "bad.yaml"
    bad.write_text(GDPR.read_text().replace("due: 14d", "due: fortnight"))
    checked = run_qylon("compliance", "validate", str(bad), "--json")
    assert checked.code == 3 and "bad.yaml:" in checked.json["error"]["message"]
    up = run_qylon("compliance", "upload", str(GDPR), "--json", env=env)
    assert up.code == 0, up.stderr
    assert up.json["data"]["workflow"] == "compliance.gdpr-consultant-onboarding"
    api.post("/v1/users", org.token, json={"email": "cli@firm.example"})
    assigned = run_qylon(
        "compliance", "assign", "--policy", "gdpr-consultant-onboarding",
        "--user", "cli@firm.example", "--start", "2026-03-02", "--json", env=env,
    )  # fmt: skip
    assert assigned.code == 0, assigned.stderr
    assert {a["item"] for a in assigned.json["data"]["assigned"]} == {
        "data-protection-policy",
        "gdpr-training",
    }
    listed = run_qylon("compliance", "status", "--user", "cli@firm.example", "--json", env=env)
    items = {i["item"]: i for i in listed.json["data"]["items"]}
    certificate = tmp_path / "certificate.pdf"
    certificate.write_bytes(b"%PDF-1.4\n% a certificate\n")
    done = run_qylon(
        "compliance", "complete", items["gdpr-training"]["id"],
        "--evidence", str(certificate), "--json", env=env,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert (
        done.json["data"]["evidence_sha256"] == hashlib.sha256(certificate.read_bytes()).hexdigest()
    )
    again = run_qylon("compliance", "complete", items["gdpr-training"]["id"], "--evidence", str(certificate), "--json", env=env)  # fmt: skip
    assert again.code != 0 and again.json["error"]["code"] == "already_completed"
    missing = run_qylon("compliance", "complete", "no-such-item", "--accept", "--json", env=env)
    assert missing.code == 5
    overdue = run_qylon("compliance", "status", "--overdue", "--json", env=env)
    assert {i["item"] for i in overdue.json["data"]["items"]} == {"data-protection-policy"}
    csv = run_qylon("compliance", "report", "--framework", "GDPR", "--format", "csv", env=env)
    assert csv.code == 0 and csv.stdout.startswith("email,policy,item")
    assert hashlib.sha256(certificate.read_bytes()).hexdigest() in csv.stdout
    pdf = tmp_path / "gdpr.pdf"
    made = run_qylon("compliance", "report", "--framework", "GDPR", "--format", "pdf", "-o", str(pdf), env=env)  # fmt: skip
    assert made.code == 0 and pdf.read_bytes().startswith(b"%PDF-")
    data = run_qylon("compliance", "report", "--framework", "GDPR", "--json", env=env)
    assert data.json["data"]["summary"]["completed"] == 1
    link = run_qylon("compliance", "link", "--user", "cli@firm.example", "--json", env=env)
    assert "/p/checklist?t=" in link.json["data"]["checklist"]


def test_evidence_withdraw_and_redate_commands(server, org, api, backend, tmp_path, monkeypatch):
    """In-process: evidence comes back verified (to its own name or -o), a changed file is
    exit 1 and writes nothing; withdraw and redate change the item."""
    from qylon_server.db import Database
    from qylon_server.models import ComplianceEvidence
    from qylon_server.tenancy import org_session

    from ..conftest import run_qylon_here

    env = credentials(server.url, org.token)
    assert run_qylon_here("compliance", "upload", str(GDPR), env=env).code == 0
    api.post("/v1/users", org.token, json={"email": "ev@firm.example"})
    assigned = run_qylon_here("compliance", "assign", "--policy", "gdpr-consultant-onboarding", "--user", "ev@firm.example", "--start", "2026-03-02", "--json", env=env)  # fmt: skip
    items = {a["item"]: a["id"] for a in assigned.json["data"]["assigned"]}
    certificate = tmp_path / "my certificate.pdf"
    certificate.write_bytes(b"%PDF-1.4\n% evidence\n")
    digest = hashlib.sha256(certificate.read_bytes()).hexdigest()
    training = items["gdpr-training"]
    table = run_qylon_here("compliance", "status", "--user", "ev@firm.example", env=env)
    assert training[:8] in table.stdout and training not in table.stdout  # the id's start
    short = run_qylon_here("compliance", "complete", training[:3], "--accept", env=env)
    assert short.code == 2 and "give" in short.stderr  # at least 4, or more to be unique
    unknown = run_qylon_here("compliance", "complete", "ffffffff", "--accept", env=env)
    assert unknown.code == 5 and "No compliance item" in unknown.stderr
    done = run_qylon_here("compliance", "complete", training[:8], "--evidence", str(certificate), env=env)  # fmt: skip
    assert done.code == 0, done.stderr
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    got = run_qylon_here("compliance", "evidence", training, "--json", env=env)
    assert got.code == 0, got.stderr
    assert got.json["data"]["sha256"] == digest and got.json["data"]["path"] == "my_certificate.pdf"
    assert (here / "my_certificate.pdf").read_bytes() == certificate.read_bytes()
    again = run_qylon_here("compliance", "evidence", training, env=env)  # the file exists
    assert again.code == 2
    out = tmp_path / "copy.pdf"
    named = run_qylon_here("compliance", "evidence", training, "-o", str(out), env=env)
    assert named.code == 0 and "verified" in named.stdout and out.read_bytes()[:5] == b"%PDF-"
    db = Database(backend.admin_url)
    try:
        with org_session(db, org.id) as s:  # the stored bytes change behind the hash's back
            s.query(ComplianceEvidence).filter_by(item_id=training).one().content = b"%PDF-x"
    finally:
        db.dispose()
    spoiled = tmp_path / "spoiled.pdf"
    bad = run_qylon_here("compliance", "evidence", training, "-o", str(spoiled), "--json", env=env)  # fmt: skip
    assert bad.code == 1 and bad.json["error"]["code"] == "checksum_mismatch"
    assert digest in bad.json["error"]["message"] and not spoiled.exists()
    none = run_qylon_here("compliance", "evidence", items["data-protection-policy"], env=env)
    assert none.code == 5
    policy = items["data-protection-policy"]
    moved = run_qylon_here("compliance", "redate", policy[:6], "--due", "2027-02-01", "--json", env=env)  # fmt: skip
    assert moved.code == 0 and moved.json["data"]["due_date"] == "2027-02-01", moved.stderr
    wrong = run_qylon_here("compliance", "redate", policy, "--due", "someday", env=env)
    assert wrong.code == 3
    gone = run_qylon_here("compliance", "withdraw", policy, "--reason", "Not on client work", env=env)  # fmt: skip
    assert gone.code == 0 and "Withdrew data-protection-policy of ev@firm.example" in gone.stdout
    status = run_qylon_here("compliance", "status", "--user", "ev@firm.example", "--json", env=env)
    by_item = {i["item"]: i for i in status.json["data"]["items"]}
    assert by_item["data-protection-policy"]["status"] == "withdrawn"
    twice = run_qylon_here("compliance", "withdraw", policy, "--reason", "x", "--json", env=env)
    assert twice.code == 3 and twice.json["error"]["code"] == "withdrawn"  # a 409
