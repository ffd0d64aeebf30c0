"""SCIM 2.0 (RFC 7643/7644) for identity providers: ``/scim/v2/Users`` and ``/scim/v2/Groups``.

The protocol (routing, filters, PATCH, paging, ETags, errors, discovery documents) is
scim2-server's; this package gives it a storage on the server's database that makes every
change through the one :class:`~qylon_server.services.provisioning.Provisioner` the bulk import uses,
an application that authenticates API keys of scope ``scim``, and the few normalisations
real identity providers need (see :mod:`.quirks`).
"""

from __future__ import annotations


def mount(app) -> None:
    """Serve SCIM under ``/scim`` (``/scim/v2/...``; ``/scim/...`` works too, as Entra ID sends it)."""
    from .app import ScimApp

    app.mount("/scim", ScimApp(app.state))
