"""The ``hubspot`` CRM provider: what ``qylon_cli.providers`` asks of a CRM
(``CrmProvider``, ``MeetingPusher``) and of a sign-in (``Connectable``)."""

from __future__ import annotations

from collections.abc import Callable

from qylon_cli.providers import Configured, Contact, CrmMeeting, Note, PushedItem, PushResult

from . import auth


class HubSpot(Configured):
    name = "hubspot"

    config_type = auth.Config

    def client(self, token: str | None = None):
        from .client import HubSpotClient

        return HubSpotClient(self.config, token=token)

    # -- CrmProvider -----------------------------------------------------------------------
    def find_contacts(self, query: str) -> list[Contact]:
        client = self.client()
        try:
            body = {
                "query": query,
                "filterGroups": [],
                "properties": ["email", "firstname", "lastname", "company"],
                "sorts": [],
                "limit": 100,
                "after": "0",
            }
            found = client.request("POST", "/crm/v3/objects/contacts/search", json=body)
        finally:
            client.close()
        return [
            Contact(
                id=c["id"],
                name=" ".join(
                    p
                    for p in (c["properties"].get("firstname"), c["properties"].get("lastname"))
                    if p
                ),
                email=c["properties"].get("email"),
                company=c["properties"].get("company"),
            )
            for c in found.get("results", [])
        ]

    def create_note(self, note: Note) -> Note:
        from datetime import UTC, datetime

        from .push import ASSOCIATION, stamp

        props = {
            "hs_timestamp": stamp(note.created_at or datetime.now(UTC)),
            "hs_note_body": note.body,
        }
        associations = []
        if note.contact_id:
            associations.append(
                {
                    "to": {"id": note.contact_id},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": ASSOCIATION[("notes", "contact")],
                        }
                    ],
                }
            )
        client = self.client()
        try:
            made = client.request(
                "POST",
                "/crm/v3/objects/notes",
                json={"properties": props, "associations": associations},
            )
        finally:
            client.close()
        return note.model_copy(update={"id": made["id"]})

    # -- CompanyLister ---------------------------------------------------------------------
    def list_companies(self):
        """Every company (``GET /crm/v3/objects/companies``, page after page by ``after``)."""
        from qylon_cli.providers import Company

        client = self.client()
        try:
            for company in client.pages(
                "GET", "/crm/v3/objects/companies", limit=100, properties="name,domain"
            ):
                props = company.get("properties") or {}
                if props.get("name"):
                    yield Company(id=company["id"], name=props["name"], domain=props.get("domain"))
        finally:
            client.close()

    # -- MeetingPusher ---------------------------------------------------------------------
    def push_meeting(
        self,
        meeting: CrmMeeting,
        known: dict[str, str],
        record: Callable[[PushedItem], None] | None = None,
    ) -> PushResult:
        from . import push

        client = self.client()
        try:
            result = push.push_meeting(client, meeting, known, record)
        finally:
            client.close()
        if client.waits:
            waited = sum(client.waits)
            result.warnings.append(
                f"HubSpot's rate limit: waited {len(client.waits)} time(s), {waited:.1f} s in all."
            )
        return result

    # -- Connectable -----------------------------------------------------------------------
    def _account(self, token: str | None = None) -> dict:
        client = self.client(token)
        try:
            return client.request("GET", "/account-info/v3/details")
        finally:
            client.close()

    def connect(self, *, method: str, token: str | None = None, **options) -> dict:
        from qylon_cli.errors import UsageError

        if method == "token":
            if not token:
                raise UsageError("No token given.")
            account = self._account(token)  # refuses a bad token before it is kept
            auth.save({"type": "private_app", "access_token": token})
        elif method == "oauth":
            auth.oauth_sign_in(self.config, open_url=_opener(options.get("open_browser", True)))
            account = self._account()
        else:
            raise UsageError(
                f"HubSpot has no sign-in method {method!r}.", hint="Use token or oauth."
            )
        return {**self.status(), "account": account.get("portalId")}

    def status(self) -> dict:
        creds = auth.stored()
        if creds is None:
            return {"connected": False, "method": None, "source": None}
        return {
            "connected": True,
            "method": creds.get("type"),
            "source": f"env {auth.TOKEN_ENV}" if creds.get("env") else "keyring",
            "expires_at": creds.get("expires_at"),
            "refreshable": bool(creds.get("refresh_token")),
        }

    def disconnect(self) -> bool:
        return auth.forget()


def _opener(browser: bool) -> Callable[[str], None]:
    from qylon_cli.oauth import browser_opener

    return browser_opener("HubSpot", browser)
