"""SCIM 2.0 (RFC 7643/7644) for identity providers: ``/scim/v2/Users`` and ``/scim/v2/Groups``.

The protocol (routing, filters, PATCH, paging, ETags, errors, discovery documents) is
scim2-server's; this package gives it a storage on the server's database that makes every
change through the one :class:`~qylon_server.services.provisioning.Provisioner` the bulk import uses,
an application that authenticates API keys of scope ``scim``, and the few normalisations
real identity providers need (see :mod:`.quirks`).
"""

from __future__ import annotations

import threading


def mount(app) -> None:
    """Serve SCIM under ``/scim`` (``/scim/v2/...``; ``/scim/...`` works too, as Entra ID sends it)."""
    app.mount("/scim", OnFirstRequest(app.state))


class OnFirstRequest:
    """The SCIM application (``.app.ScimApp``), imported and built at the first SCIM
    request, in a thread: scim2-server and scim2-models (their Pydantic models) were a
    fifth of ``qylon server start``'s time to ready (0.67 of 3.1 s), paid by every server
    and worker process, most of which never see an identity provider."""

    def __init__(self, state):
        self.state = state
        self._app = None
        self._lock = threading.Lock()

    def _built(self):
        with self._lock:
            if self._app is None:
                from .app import ScimApp

                self._app = ScimApp(self.state)
        return self._app

    async def __call__(self, scope, receive, send) -> None:
        import anyio

        app = self._app or await anyio.to_thread.run_sync(self._built)
        await app(scope, receive, send)
