"""Timer jobs: plain, idempotent functions, one unit of work per case."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app import clock
from app.cases.models import MediationCase
from app.cases.service import fire_case_timers
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


def fire_due_timers(db: Database, *, max_cases: int = 10_000) -> list[Fired]:
    """Fire every timer that is due now, each case in its own transaction.

    On PostgreSQL the due timer row is claimed with FOR UPDATE SKIP LOCKED, so several scheduler
    processes share the work and never fire one timer twice; a case that fails is logged and
    skipped so it cannot hold up the others.
    """
    fired: list[Fired] = []
    done: set[int] = set()
    for _ in range(max_cases):
        case_id = None
        try:
            with db.unit_of_work() as session:
                query = select(PendingTimer.case_id).where(PendingTimer.due_at <= clock.now())
                if done:
                    query = query.where(PendingTimer.case_id.not_in(done))
                query = query.order_by(PendingTimer.due_at).limit(1)
                if not db.is_sqlite:
                    query = query.with_for_update(skip_locked=True)
                case_id = session.scalar(query)
                if case_id is None:
                    break
                names = fire_case_timers(session, case_id)
                case_no = session.get(MediationCase, case_id).case_no
                still_due = session.scalar(select(PendingTimer.id).where(
                    PendingTimer.case_id == case_id, PendingTimer.due_at <= clock.now()).limit(1))
            if still_due is not None:
                done.add(case_id)  # the engine did not take its due timer: do not spin on it
            if names:
                fired.append(Fired(case_id=case_id, case_no=case_no, names=tuple(names)))
                continue  # its fired timers left the table: it is not picked again unless due again
        except Exception:  # noqa: BLE001 - one broken case must not stop the others
            log.exception("firing the timers of case %s failed", case_id)
        if case_id is not None:
            # a case that failed, or whose due timer did not fire, is skipped for the rest of this run
            # (the list stays short: only such cases are on it)
            done.add(case_id)
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
