"""Apply a plan through the server's bulk endpoint, in batches, safely re-runnable.

Each batch carries an ``Idempotency-Key`` derived from the file's content, the mode,
the phase, the batch's position and the batch's own items: a batch retried after a
network cut (or re-sent by a re-run that planned the same batch) is answered from
the server's record and changes nothing twice. A re-run after a crash plans against
the users the server now has, so the rows already applied come out unchanged.

Outcomes reach the report in file order (a row rejected or unchanged waits for the
rows before it that are still in a batch), then the deactivations of a sync.

Managers are named by email and may be users this same file creates. A row whose
manager is on the server, or is created by an earlier row (items apply in order), gets
it at once; a row naming a manager created further down the file gets its manager in
a second phase, once every user exists.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path

from qylon_cli.errors import EXIT_INVALID, EXIT_PARTIAL, InvalidInput, PartialFailure, QylonError

from .model import PlanItem
from .remote import to_fields
from .report import ReportWriter

OUTCOME = {"unchanged": "unchanged", "skip": "skipped", "error": "rejected"}


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


APPLIED = ("created", "updated", "deactivated", "reactivated", "unchanged")


class BatchRefused(QylonError):
    """The server refused a batch: nothing in it changed; earlier batches stand (then the
    import is partially applied: exit 7; else nothing changed: exit 3)."""

    code = "batch_refused"
    exit_code = EXIT_INVALID


class PartiallyApplied(PartialFailure):
    """Some rows were applied and some were not (``--on-error skip`` with rejected rows):
    exit 7. ``details`` (the import's document) goes into the JSON error."""

    code = "partially_applied"


def row_counts(counts: dict[str, int]) -> dict[str, int]:
    """``{"applied", "rejected"}``: plan entries the server applied (created, updated,
    deactivated, reactivated or already as the file says) and rows refused."""
    return {
        "applied": sum(counts.get(k, 0) for k in APPLIED),
        "rejected": counts.get("rejected", 0),
    }


class Applier:
    """``feed(item)`` each plan item in order, then ``finish()``; ``counts`` holds outcomes."""

    def __init__(
        self,
        api,
        *,
        digest: str,
        mode: str,
        known: set[str],
        create_groups: bool = False,
        batch_size: int = 500,
        report: ReportWriter | None = None,
        progress: Callable[[int], None] | None = None,
    ):
        self.api, self.digest, self.mode, self.known = api, digest, mode, set(known)
        self.create_groups = create_groups
        self.batch_size, self.report, self.progress = batch_size, report, progress
        self.counts: Counter[str] = Counter()
        self._batch: list[tuple[dict, list | None]] = []
        self._pending: deque[list] = deque()  # [item, outcome or None], in file order
        self._phase, self._index = 1, 0
        self._managers: list[tuple[str, str]] = []  # (email, manager email) for phase 2

    def feed(self, item: PlanItem) -> None:
        entry = [item, OUTCOME.get(item.action)]
        self._pending.append(entry)
        if entry[1] is not None:
            self._flush()
            return
        if item.action == "deactivate" and not (item.user and item.changes):
            self._queue({"action": "deactivate", "email": item.email}, entry)
            return
        names = None if item.action == "create" else list(item.changes)
        fields = to_fields(item.user, names)
        manager = fields.get("manager_email")
        if manager and manager not in self.known:
            del fields["manager_email"]
            self._managers.append((item.email, manager))
        action = "create" if item.action == "create" else "update"  # a row's deactivation too
        if action == "create":
            self.known.add(item.email)
        self._queue({"action": action, "email": item.email, "fields": fields}, entry)

    def finish(self) -> None:
        self._send()
        self._phase, self._index = 2, 0
        for email, manager in self._managers:
            self._queue(
                {"action": "update", "email": email, "fields": {"manager_email": manager}}, None
            )
        self._send()

    # -- internals -----------------------------------------------------------------
    def _flush(self) -> None:
        """Count and report the entries whose outcome is known, up to the first still waiting."""
        pending = self._pending
        while pending and pending[0][1] is not None:
            item, outcome = pending.popleft()
            self.counts[outcome] += 1
            if self.report:
                self.report.write(item, outcome)
            if self.progress:
                self.progress(1)

    def _queue(self, body: dict, entry: list | None) -> None:
        self._batch.append((body, entry))
        if len(self._batch) >= self.batch_size:
            self._send()

    def key(self, items: list[dict]) -> str:
        content = json.dumps(items, sort_keys=True, separators=(",", ":"))
        seed = f"{self.digest}|{self.mode}|{self._phase}|{self._index}|{content}"
        return "qylon-import-" + hashlib.sha256(seed.encode()).hexdigest()[:48]

    def _send(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        items = [body for body, _ in batch]
        try:
            answer = self.api.request(
                "POST",
                "/v1/users/bulk",
                json={"items": items, "create_groups": self.create_groups},
                headers={"Idempotency-Key": self.key(items)},
                idempotent=True,
            )
        except InvalidInput as exc:
            self._flush()
            refused = BatchRefused(
                f"The server refused batch {self._index + 1} (phase {self._phase}): {exc.message} "
                "Nothing in that batch changed"
                + ("; earlier batches were applied." if self.changed() else ", nor before it."),
                hint="Fix the row it names and run the same import again: it carries on where it stopped.",
            )
            if self.changed():
                refused.exit_code = EXIT_PARTIAL
            raise refused from None
        self._index += 1
        for (_, entry), result in zip(batch, answer["results"], strict=True):
            if entry is not None:
                entry[1] = result["outcome"]
            elif result["outcome"] != "unchanged":
                self.counts["managers_set"] += 1
        self._flush()

    def changed(self) -> bool:
        """Whether anything was applied on the server so far."""
        return any(self.counts.get(k) for k in APPLIED if k != "unchanged") or bool(
            self.counts.get("managers_set")
        )


def apply_preview(
    api,
    result,
    *,
    path: str | Path,
    mapping: list[str] | tuple = (),
    report: str | Path | None = None,
    batch_size: int = 1000,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Apply a ``preview(..., keep=True)`` result: re-plan its rows as they stream from
    the spool and send them in batches. Returns the outcome counts."""
    from contextlib import nullcontext

    from .plan import iter_plan

    total = result.validation.rows_read + result.planner.counts.get("deactivate", 0)
    if report is None and not any(
        result.planner.counts.get(a) for a in ("create", "update", "deactivate")
    ):
        # nothing to send (a re-run of an applied file): the preview's counts are the outcome
        if progress:
            progress("apply", total, total)
        return {OUTCOME[a]: n for a, n in result.planner.counts.items() if a in OUTCOME and n}
    planner = result.planner.restart()
    known = set(planner.existing)
    mode = planner.mode
    done = [0]

    def step(n: int) -> None:
        done[0] += n
        if progress and (done[0] % 200 == 0 or done[0] >= total):
            progress("apply", done[0], total)

    create_groups = planner.create_groups
    seed = f"{mode}|{'|'.join(sorted(mapping))}" + ("|create-groups" if create_groups else "")
    writer = ReportWriter(report) if report else None
    with writer or nullcontext():
        applier = Applier(
            api,
            digest=file_digest(path),
            mode=seed,
            known=known,
            create_groups=create_groups,
            batch_size=batch_size,
            report=writer,
            progress=step,
        )
        errors = result.validation.errors_by_row()
        for item in iter_plan(result.validation.entries(), planner, errors):
            applier.feed(item)
        applier.finish()
    if progress:
        progress("apply", total, total)
    return dict(applier.counts)
