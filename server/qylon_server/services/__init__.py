"""The server's business rules, as functions that take a session and a principal.

Route handlers (``api/*.py``), SCIM (``scim/``) and background work (``tenancy.py``)
call the same functions, so a rule lives in one place:

- ``audit``: the one writer of audit events;
- ``rows``: get a row by id or answer 404;
- ``clients``: create, update, archive and restore clients;
- ``meetings``: store a meeting idempotently (stale edits refused, item statuses merged),
  delete it, mark its action items open or done;
- ``api_keys``: who may create, rotate and revoke which keys (``keys.py`` makes them);
- ``users``: invite, update, deactivate, reactivate and bulk changes, all through the one
  ``Provisioner`` (``services/provisioning.py``), with stored bulk answers for idempotency;
- ``groups``: create and delete groups, add or remove one member, through it too.

Functions take keyword-only arguments after ``session`` and ``principal``.
"""
