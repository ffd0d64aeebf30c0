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
