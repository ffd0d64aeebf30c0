"""Schemathesis hooks for scripts/api_fuzz.py: the fuzzer always holds a working owner key.

The fuzzer finds its own key through GET /v1/api-keys and, sooner or later, revokes or
rotates it; every request after that would only test the 401 path. This auth provider
mints a fresh owner key (read, write, admin) straight in the database, outside the API
under test, at the start and whenever a request answers 401 (schemathesis then refreshes
the credentials and replays the request once).

Loaded by schemathesis through SCHEMATHESIS_HOOKS; api_fuzz.py passes the organisation and
owner in QYLON_FUZZ_ORG_ID and QYLON_FUZZ_USER_ID, the database in the usual QYLON_* settings.
"""

from __future__ import annotations

import atexit
import os
import threading

import schemathesis

_lock = threading.Lock()
minted = 0


def mint_owner_key() -> str:
    from qylon_server import keys
    from qylon_server.config import ServerSettings
    from qylon_server.db import Database

    global minted
    settings = ServerSettings()
    db = Database(settings.database_admin_url or settings.database_url)
    try:
        with _lock, db.session(os.environ["QYLON_FUZZ_ORG_ID"]) as session:
            minted += 1
            new = keys.create(
                session,
                pepper=settings.pepper(),
                user_id=os.environ["QYLON_FUZZ_USER_ID"],
                name=f"fuzz key {minted}",
                scopes=["read", "write", "admin"],
            )
            return new.token
    finally:
        db.dispose()


atexit.register(lambda: print(f"fuzz_auth: {minted} owner keys minted"))


@schemathesis.auth(refresh_interval=24 * 3600)  # refreshed on a 401, not on a timer
class OwnerKey:
    def get(self, case, ctx):
        return mint_owner_key()

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
