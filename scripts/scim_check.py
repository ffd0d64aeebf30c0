"""Check the server's SCIM 2.0 endpoints with scim2-tester (an outside conformance checker).

    .venv/bin/python scripts/scim_check.py [--backends sqlite,postgres] [-v]

For each backend, starts `qylon server start` on a free port with a fresh database (as
scripts/api_fuzz.py does), makes an owner's key of scope `scim`, and runs scim2-tester's
`check_server` against /scim/v2: discovery, then create, read, replace, PATCH and delete
of users and groups. Exits 1 when any check ends in ERROR or CRITICAL. `make test` runs it.
Two or more backends are checked at the same time, each in a process of its own (the checker
waits on the server more than it computes), each report printed when all are done.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import httpx2
from api_fuzz import database, server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="Print every check, not only failures."
    )
    args = parser.parse_args()
    kinds = args.backends.split(",")
    if len(kinds) > 1:
        return side_by_side(kinds, args.verbose)
    with database(kinds[0]) as db_env:
        return 1 if check(kinds[0], db_env, args.verbose) else 0


def side_by_side(kinds: list[str], verbose: bool) -> int:
    """This script once per backend, all at once; their reports in the order named."""
    runs = [
        subprocess.Popen(
            [sys.executable, __file__, "--backends", kind, *(["-v"] if verbose else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for kind in kinds
    ]
    worst = 0
    for run in runs:
        report, _ = run.communicate()
        print(report, end="", file=sys.stderr, flush=True)
        worst = max(worst, run.returncode)
    return worst


def check(kind: str, db_env: dict, verbose: bool) -> int:
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import Status, check_server

    # scim2-tester sends national numbers without a country code: name their region
    with server({**db_env, "QYLON_PHONE_REGION": "US"}, "qylon-scim-") as (url, init, _env, log):
        made = httpx2.post(
            f"{url}/v1/api-keys",
            json={"name": "scim2-tester", "scopes": ["scim"]},
            headers={"Authorization": f"Bearer {init['token']}"},
        )
        made.raise_for_status()
        client = httpx2.Client(
            base_url=f"{url}/scim/v2", headers={"Authorization": f"Bearer {made.json()['token']}"}
        )
        scim = SyncSCIMClient(client)
        scim.discover()
        results = check_server(scim)
        bad = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
        for result in results if verbose else bad:
            print(
                f"  {result.status.name:<8} {result.title}: {result.reason or ''}", file=sys.stderr
            )
        counts: dict[str, int] = {}
        for result in results:
            counts[result.status.name] = counts.get(result.status.name, 0) + 1
        print(
            f"== scim2-tester against the server on {kind}: {len(results)} checks, "
            + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())),
            file=sys.stderr,
        )
        if bad:
            print(f"-- the server's log ({log}):\n" + log.read_text()[-8000:], file=sys.stderr)
        return len(bad)


if __name__ == "__main__":
    sys.exit(main())
