"""Timer jobs: plain, idempotent functions; due cases are fired in batches of one transaction each."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, contains_eager

from app import clock
from app.cases.models import CaseState, MediationCase
from app.cases.service import Batch, fire_case_timers
from app.db import Database
from app.scheduler.models import PendingTimer, SharedClock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fired:
    case_id: int
    case_no: str
    names: tuple[str, ...]


def earliest_due(db: Database) -> datetime | None:
    """The due time of the earliest pending timer of any case."""
    with db.unit_of_work(write=False) as session:
        return session.scalar(select(func.min(PendingTimer.due_at)))


#: cases fired in one transaction (each in its own savepoint)
BATCH_CASES = 50


def _claim(session: Session, db: Database, now: datetime, skip: set[int], batch: int) -> list[MediationCase]:
    """Lock up to `batch` cases with a due timer, with their engine state, earliest due first.

    On PostgreSQL the case rows are locked with SKIP LOCKED: a case that a request or another
    scheduler works on right now is left for the next round, and the other schedulers take other
    cases. The timer rows are not locked: only the holder of a case's lock changes its timers.
    """
    due_cases = select(PendingTimer.case_id).where(PendingTimer.due_at <= now)
    if skip:
        due_cases = due_cases.where(PendingTimer.case_id.not_in(list(skip)))  # a copy: other threads add
    # a window wider than the batch, so that cases locked by others do not leave the batch empty
    due_cases = due_cases.order_by(PendingTimer.due_at).limit(batch * 4)
    query = (select(MediationCase).join(CaseState, CaseState.case_id == MediationCase.id)
             .where(MediationCase.id.in_(due_cases)).options(contains_eager(MediationCase.state))
             .order_by(MediationCase.id).limit(batch).execution_options(populate_existing=True))
    if not db.is_sqlite:
        query = query.with_for_update(of=[MediationCase, CaseState], skip_locked=True)
    return list(session.scalars(query).unique())


def fire_due_timers(db: Database, *, max_cases: int = 10_000, batch: int = BATCH_CASES,
                    workers: int | None = None) -> list[Fired]:
    """Fire every timer that is due now, up to `batch` cases per transaction.

    A case that fails is logged and skipped for the rest of this run; it cannot hold up the others
    nor undo them (see `_fire_batches`). The timer rows of a fired case are replaced in the
    same transaction as its new state, so a timer fires once, and a crash before the commit leaves it
    pending (it fires after the restart). On PostgreSQL `workers` threads (default WORKERS) claim
    batches side by side (SKIP LOCKED keeps them apart); SQLite has one writer, so one thread.
    """
    skip: set[int] = set()
    count = workers if workers is not None else WORKERS
    if db.is_sqlite or count <= 1:
        return _fire_batches(db, max_cases, batch, skip)
    share = -(-max_cases // count)
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="onestop-timers") as pool:
        runs = [pool.submit(_fire_batches, db, share, batch, skip) for _ in range(count)]
        return [f for run in runs for f in run.result()]


#: threads firing timers on PostgreSQL
WORKERS = 2


def _fire_batches(db: Database, max_cases: int, batch: int, skip: set[int]) -> list[Fired]:
    """Claim and fire batches until nothing is due (or `max_cases` were handled).

    A batch is one transaction. When one of its cases fails, the batch is rolled back, that case is
    logged and skipped for the rest of the run, and the others are claimed and fired again (they had
    not fired: nothing was committed). Failing cases are rare, so this costs less than a savepoint
    around every case, and it leaves no half-fired case behind either.
    """
    fired: list[Fired] = []
    done = 0
    while done < max_cases:
        batch_fired: list[Fired] = []
        current: int | None = None
        try:
            with db.unit_of_work() as session:
                now = clock.now()
                claimed = _claim(session, db, now, skip, min(batch, max_cases - done))
                if not claimed:
                    break
                # another worker may have skipped one of them after this query was built: its lock is
                # released only after it joined `skip`, so checking again now that we hold it is exact
                cases = [case for case in claimed if case.id not in skip]
                ids = [case.id for case in cases]
                # their open tasks and all their timers, read once for the batch after the lock
                known = Batch.read(session, ids)
                for case in cases:
                    current = case.id
                    try:
                        names = fire_case_timers(session, case.id, locked=case, batch=known)
                    except Exception:
                        # skipped before the rollback releases its lock: no other worker takes it up
                        skip.add(case.id)
                        raise
                    if names:
                        batch_fired.append(Fired(case_id=case.id, case_no=case.case_no, names=tuple(names)))
                current = None
                # the batch's rows in one flush (a statement per table, not a round per case)
                session.flush()
                # a case whose due timer the engine did not take is not tried again in this run
                skip.update(session.scalars(select(PendingTimer.case_id).where(
                    PendingTimer.case_id.in_(ids), PendingTimer.due_at <= clock.now())))
        except Exception:  # noqa: BLE001 - one broken case must not stop the others
            if current is None:
                log.exception("firing due timers failed")
                break
            log.exception("firing the timers of case %s failed; it is skipped in this run", current)
            continue
        done += len(cases)
        fired.extend(batch_fired)
    return fired


def publish_clock(db: Database) -> None:
    """Testing only: store this process's clock offset for the other processes."""
    with db.unit_of_work() as session:
        row = session.get(SharedClock, 1)
        if row is None:
            session.add(SharedClock(id=1, offset_seconds=clock.offset().total_seconds()))
        else:
            row.offset_seconds = clock.offset().total_seconds()


def adopt_clock(db: Database) -> None:
    """Testing only: move this process's clock up to the offset another process published."""
    with db.unit_of_work(write=False) as session:
        seconds = session.scalar(select(SharedClock.offset_seconds).where(SharedClock.id == 1))
    if seconds is not None:
        clock.set_offset(timedelta(seconds=seconds))
