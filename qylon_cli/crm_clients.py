"""The team's client list filled and kept up to date from a CRM's companies (HubSpot) or
accounts (Salesforce): ``qylon clients sync --from NAME``.

The server's clients have no external-id column, so the CRM's id rides in the client's
tags as ``"<crm>:<id>"`` (``"salesforce:001..."``, ``"hubspot:1001"``). A company is matched
by that tag first, so a company renamed in the CRM renames the client it made; else by
name (case-insensitive), and the existing client is adopted (the tag added); else a client
is created. A second run with nothing changed in the CRM changes nothing. Archived clients
stay archived. One company that fails (a name another client has) does not stop the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

from .errors import PartialFailure, QylonError
from .providers import Company


class SyncedClient(BaseModel):
    crm_id: str
    name: str
    client_id: str | None = None
    outcome: Literal["created", "updated", "linked", "unchanged", "failed"]
    error: str | None = None


class SyncReport(BaseModel):
    source: str
    items: list[SyncedClient] = Field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for i in self.items if i.outcome == outcome)


class SyncIncomplete(PartialFailure):
    """Some companies did not become clients (exit 7); the report goes into the JSON error."""

    code = "sync_incomplete"


def tag_for(source: str, crm_id: str) -> str:
    return f"{source}:{crm_id}"


def _change(client: dict, company: Company, tag: str) -> dict:
    """What to PATCH so that ``client`` says what ``company`` says (empty: nothing)."""
    body: dict = {}
    if client["name"] != company.name:
        body["name"] = company.name
    if company.domain and client.get("domain") != company.domain:
        body["domain"] = company.domain
    if tag not in (client.get("tags") or []):
        body["tags"] = [*(client.get("tags") or []), tag]
    return body


def sync(api, source: str, companies: Iterable[Company]) -> SyncReport:
    """Create or update a client for each company; ``api`` is the team server's ApiClient."""
    prefix = f"{source}:"
    existing = list(api.pages("/v1/clients", status="all"))
    by_tag = {t: c for c in existing for t in (c.get("tags") or []) if t.startswith(prefix)}
    by_name = {c["name"].lower(): c for c in existing}
    report = SyncReport(source=source)
    for company in companies:
        tag = tag_for(source, company.id)
        mine = by_tag.get(tag)
        found = mine or by_name.get(company.name.lower())
        if (
            found is not None
            and mine is None
            and any(t.startswith(prefix) for t in found.get("tags") or [])
        ):
            found = None  # that client already stands for another of this CRM's companies
        try:
            if found is None:
                body = {"name": company.name, "tags": [tag]}
                if company.domain:
                    body["domain"] = company.domain
                made = api.post("/v1/clients", body)
                outcome = "created"
            else:
                body = _change(found, company, tag)
                made = api.patch(f"/v1/clients/{found['id']}", body) if body else found
                outcome = "unchanged" if not body else "updated" if mine else "linked"
        except QylonError as exc:
            report.items.append(
                SyncedClient(
                    crm_id=company.id, name=company.name, outcome="failed", error=exc.message
                )
            )
            continue
        by_tag[tag] = by_name[made["name"].lower()] = made
        report.items.append(
            SyncedClient(
                crm_id=company.id, name=made["name"], client_id=made["id"], outcome=outcome
            )
        )
    failed = [i for i in report.items if i.outcome == "failed"]
    if failed:
        raise SyncIncomplete(
            f"{len(failed)} of {len(report.items)} companies did not sync: "
            + "; ".join(f"{i.name}: {i.error}" for i in failed),
            hint="Fix them (a client with the same name?) and run the sync again.",
            details={"sync": report.model_dump(mode="json")},
        )
    return report
