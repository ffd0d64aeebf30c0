"""Issue 20's proof for email sequences, end to end: the real server (a subprocess,
SIGKILLed between emails), the real SMTP server (aiosmtpd) and the engine's clock (the
`clock` signal ends a durable wait; time is never patched). A person imported from CSV
gets the welcome email, the second two business days later in their time zone (the
computed time is checked), and nothing after unsubscribing."""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ..conftest import credentials, run_qylon
from .harness import Api, free_port, new_org, sqlite_backend
from .smtp_relay import Relay
from .workflow_support import _serve, _up

pytestmark = [pytest.mark.xdist_group("kill-onboarding")]
ROOT = Path(__file__).parents[2]


def _wait(test, what: str, timeout: float = 40):
    deadline = time.monotonic() + timeout
    while True:
        got = test()
        if got:
            return got
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _steps(api, token, run_id) -> dict:
    run = api.get(f"/v1/workflow-runs/{run_id}", token).json()
    return {s["name"]: s for s in run.get("steps") or []} | {"_run": run}


def _two_business_days(day: date) -> date:
    """Counted here independently: Monday to Friday, no holidays configured."""
    left = 2
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


@pytest.mark.slow
def test_imported_person_gets_welcome_then_day_two_and_nothing_after_unsubscribing(tmp_path):
    relay = Relay().start()
    with sqlite_backend(tmp_path) as backend:
        org = new_org(backend, "Firm")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        api = Api(base, backend)
        env = {
            "QYLON_SMTP_URL": "smtp://127.0.0.1:9",  # nothing there: the org's relay wins
            "QYLON_MAIL_FROM": "server@qylon.example",
            "QYLON_PUBLIC_URL": base,
        }
        procs = [_serve(backend.url, port, **env)]
        cli = credentials(base, org.token)
        try:
            _up(api)
            relay_url = relay.url
            r = run_qylon(
                "onboarding", "mail-settings", "set", "--smtp-url", relay_url,
                "--from", "onboarding@firm.example", "--json", env=cli,
            )  # fmt: skip
            assert r.code == 0, r.stderr
            assert r.json["data"]["smtp_url_set"] is True and relay_url not in r.stdout
            seq = ROOT / "config/sequences/new-consultant.yaml"
            r = run_qylon("onboarding", "sequences", "upload", str(seq), "--json", env=cli)
            assert r.code == 0, r.stderr
            people = tmp_path / "people.csv"
            people.write_text(
                "email,first_name,last_name,role,manager,time_zone\n"
                "boss@firm.example,Bo,Chen,manager,,Europe/London\n"
                "nia.hire@firm.example,Nia,Hire,member,boss@firm.example,America/New_York\n"
            )
            r = run_qylon(
                "users", "import", str(people), "--onboard", "new-consultant", "--json", env=cli
            )
            assert r.code == 0, r.stdout + r.stderr
            onboarded = r.json["data"]["onboarded"]
            assert onboarded["started"] == 2  # boss and nia: both created by the import
            again = run_qylon(
                "onboarding", "start", "--user", "nia.hire@firm.example", "--json", env=cli
            )
            assert again.code == 0, again.stderr
            run_id = again.json["data"]["run_id"]
            r = run_qylon("onboarding", "stop", "--user", "boss@firm.example", env=cli)
            assert r.code == 0, r.stderr  # the manager's own sequence: stopped at once

            welcome = _wait(
                lambda: [m for m in relay.messages if m["To"] == "nia.hire@firm.example"],
                "the welcome email",
            )[0]
            assert welcome["Message-ID"] == f"<{run_id}.welcome@firm.example>"
            assert welcome["From"] == "onboarding@firm.example"
            assert welcome["Subject"] == "Welcome to Firm, Nia"
            assert welcome.get_content_type() == "multipart/alternative"
            text = welcome.get_body(("plain",)).get_content()
            html = welcome.get_body(("html",)).get_content()
            assert "<strong>Firm</strong>" in html and "Bo Chen is your manager" in text
            unsubscribe = re.fullmatch(r"<(.+)>", welcome["List-Unsubscribe"])[1]
            assert unsubscribe.startswith(f"{base}/p/unsubscribe?t=")
            assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert unsubscribe in text

            # the day-two email waits two business days, at 09:00 in New York
            steps = _wait(
                lambda: (
                    (s := _steps(api, org.token, run_id)).get("day_two_wait", {}).get("status")
                    == "sleeping"
                    and s
                ),
                "the day-two wait",
            )
            ny = ZoneInfo("America/New_York")
            started = datetime.fromisoformat(steps["welcome_plan"]["output"]["due"])
            due = datetime.fromisoformat(steps["day_two_plan"]["output"]["due"])
            local = due.astimezone(ny)
            assert local.date() == _two_business_days(started.astimezone(ny).date())
            assert (local.hour, local.minute) == (9, 0)
            assert steps["day_two_plan"]["output"]["time_zone"] == "America/New_York"
            status = run_qylon("onboarding", "status", "--user", "nia.hire@firm.example",
                               "--json", env=cli)  # fmt: skip
            (row,) = status.json["data"]["items"]
            assert row["emails_sent"] == 1 and row["next"]["step"] == "day_two"
            assert datetime.fromisoformat(row["next"]["due"]) == due

            # the server dies during the wait; started again, the wait goes on
            os.kill(procs[-1].pid, signal.SIGKILL)
            procs[-1].wait(20)
            procs.append(_serve(backend.url, port, **env))
            _up(api)
            r = run_qylon("workflows", "signal", run_id, "clock", env=cli)
            assert r.code == 0, r.stderr
            _wait(lambda: len([m for m in relay.messages if m["To"] == "nia.hire@firm.example"]) >= 2,
                  "the day-two email")  # fmt: skip
            mine = [m for m in relay.messages if m["To"] == "nia.hire@firm.example"]
            ids = [m["Message-ID"] for m in mine]
            # none skipped; a copy (none expected here) would carry the same id
            assert set(ids) == {
                f"<{run_id}.welcome@firm.example>",
                f"<{run_id}.day_two@firm.example>",
            }
            assert mine[-1]["Subject"] == "How is your first week going, Nia?"

            # unsubscribing: a page with a button, then done, then "already"
            page = api.http.get(unsubscribe)
            assert page.status_code == 200 and "<button" in page.text
            assert "nia.hire@firm.example" in page.text
            done = api.http.post(unsubscribe)
            assert done.status_code == 200 and "no more onboarding emails" in done.text
            reused = api.http.get(unsubscribe)
            assert "already unsubscribed" in reused.text
            tampered = api.http.get(unsubscribe[:-3] + "xyz")
            assert tampered.status_code == 400 and "nia.hire" not in tampered.text

            # the rest of the sequence runs (clock ends any wait) and sends nothing more
            count = len(relay.messages)
            for _ in range(3):
                api.post(f"/v1/workflow-runs/{run_id}/signals/clock", org.token, json={})
            run = _wait(
                lambda: (
                    (s := _steps(api, org.token, run_id))["_run"]["status"] == "completed" and s
                ),
                "the run's end",
            )
            assert len(relay.messages) == count
            # planned (and waiting) before the unsubscription: checked at send time
            assert run["overdue_reminder"]["output"] == {"sent": False, "reason": "unsubscribed"}
            assert run["manager_escalation_plan"]["output"]["go"] is False
            assert run["manager_escalation"]["status"] == "skipped"
            status = run_qylon("onboarding", "status", "--json", env=cli).json["data"]["items"]
            by_email = {o["email"]: o for o in status}
            assert by_email["nia.hire@firm.example"]["status"] == "stopped"
            assert by_email["nia.hire@firm.example"]["reason"] == "unsubscribed"
            assert by_email["nia.hire@firm.example"]["emails_sent"] == 2
            assert by_email["boss@firm.example"]["reason"] == "stopped"
            history = api.get(
                "/v1/events", org.token, params={"stream": f"onboarding:{row['user_id']}"}
            )
            assert history.status_code == 200, history.text
            types = [e["type"] for e in history.json()["items"]]
            assert types == [
                "onboarding.started",
                "onboarding.email_sent",
                "onboarding.email_sent",
                "onboarding.unsubscribed",
                "onboarding.stopped",
            ]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(20)
            relay.stop()
            api.http.close()
