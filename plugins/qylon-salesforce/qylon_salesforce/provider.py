"""The ``salesforce`` CRM provider: what ``qylon_cli.providers`` asks of a CRM
(``MeetingPusher``, ``CompanyLister``) and of a sign-in (``Connectable``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from qylon_cli.providers import Company, Configured, CrmMeeting, PushedItem, PushResult

from . import auth


class Salesforce(Configured):
    name = "salesforce"
    methods = ("oauth", "device")  # the sign-ins `qylon integrations connect` offers

    config_type = auth.Config

    def client(self):
        from .client import SalesforceClient

        return SalesforceClient(self.config)

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
            result.warnings.append(
                f"Salesforce's request limit: waited {len(client.waits)} time(s), "
                f"{sum(client.waits):.1f} s in all."
            )
        return result

    # -- CompanyLister ---------------------------------------------------------------------
    def list_companies(self) -> Iterator[Company]:
        from urllib.parse import urlparse

        client = self.client()
        try:
            for account in client.query("SELECT Id, Name, Website FROM Account ORDER BY Id"):
                site = (account.get("Website") or "").strip()
                domain = (urlparse(site if "//" in site else f"//{site}").hostname or "") or None
                if domain and domain.startswith("www."):
                    domain = domain[4:]
                yield Company(id=account["Id"], name=account["Name"], domain=domain)
        finally:
            client.close()

    # -- Connectable -----------------------------------------------------------------------
    def _identity(self) -> dict:
        """Who is signed in (the token endpoint's ``id`` URL is another host; the REST
        API's own ``/services/data/vXX.X/`` listing is enough to check the token)."""
        client = self.client()
        try:
            client.request("GET", f"{client.data}/")
            return {"instance_url": str(client.http.base_url).rstrip("/")}
        finally:
            client.close()

    def connect(self, *, method: str, token: str | None = None, **options) -> dict:
        from qylon_cli.errors import UsageError

        if method == "oauth":
            auth.oauth_sign_in(self.config, open_url=_opener(options.get("open_browser", True)))
        elif method == "device":
            auth.device_sign_in(self.config, show=_show_code)
        else:
            raise UsageError(
                f"Salesforce has no sign-in method {method!r}.",
                hint="Use --oauth (browser, PKCE) or --device (a code to enter on another device).",
            )
        return {**self.status(), **self._identity()}

    def status(self) -> dict:
        creds = auth.stored()
        if creds is None:
            return {"connected": False, "method": None, "source": None}
        return {
            "connected": True,
            "method": creds.get("type"),
            "source": f"env {auth.TOKEN_ENV}" if creds.get("env") else "keyring",
            "instance_url": creds.get("instance_url"),
            "refreshable": bool(creds.get("refresh_token")),
        }

    def disconnect(self) -> bool:
        return auth.forget()


def _opener(browser: bool) -> Callable[[str], None]:
    from qylon_cli.oauth import browser_opener

    return browser_opener("Salesforce", browser)


def _show_code(start: dict) -> None:
    import sys

    print(
        f"To connect Salesforce, open {start.get('verification_uri')} and enter the code "
        f"{start.get('user_code')}",
        file=sys.stderr,
        flush=True,
    )
