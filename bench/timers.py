"""Timer lateness with many pending timers, fired by a real `TimerScheduler`.

`timers` cases of `bench_timer` are created through the service layer (batches of 500 per
transaction), each waiting for one timer at an absolute time `fire_at`, due uniformly over
[T0 + lead, T0 + lead + span]. T0 lies a day ahead; once every case exists, OneStop's clock
(`app.clock`, the one the engine, the scheduler and the event log all read) is set to T0, so the
timers fall due over the next `lead`..`lead + span` seconds of wall time however long creating the
cases took. Then a `TimerScheduler` (poll_seconds=30) runs until every timer has fired, or until
`grace` seconds after the last due time: then it is stopped (the case being fired is rolled back)
and what is still pending counts as "not fired by the cutoff" (late, not lost).

Lateness = the `timer_fired` event's `at` minus the pending timer's `due_at` read from the table
before the scheduler started (the event's own `due_at` is rounded to the second). A timer not fired
by the cutoff enters the percentiles with its lateness at the cutoff, a lower bound ("≥").
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from common import Result, World, intake, percentile, progress
from sqlalchemy import func, select

from app import clock
from app.cases.models import CaseEvent
from app.cases.service import create_case
from app.scheduler import runner as runner_module
from app.scheduler import service as scheduler_service
from app.scheduler.models import PendingTimer
from app.scheduler.runner import TimerScheduler

TIMER = "bench_timer"
BATCH = 500


class _Stop(BaseException):
    """Raised inside the scheduler's run at the cutoff; a BaseException, so nothing on the way catches it."""


class _LogCounter(logging.Handler):
    """Counts warnings and errors of the scheduler and APScheduler (skipped runs, failed firings)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.counts: dict[str, int] = defaultdict(int)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "_Stop" in message or (record.exc_info and isinstance(record.exc_info[1], _Stop)):
            return  # our own cutoff, not the scheduler's doing
        self.counts[f"{record.name}: {message[:100]}"] += 1


class _DropStop(logging.Filter):
    """Keeps the cutoff's own traceback out of the output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Stop))


def _create(world: World, dues: list[datetime]) -> list[int]:
    """Create one timer case per due time, BATCH cases per transaction; return the case ids."""
    ids: list[int] = []
    for start in range(0, len(dues), BATCH):
        with world.db.unit_of_work() as s:
            for due in dues[start:start + BATCH]:
                case = create_case(s, None, intake(world.place, title="到期提醒"), process_id=TIMER,
                                   data={"fire_at": due.isoformat()})
                ids.append(case.id)
        if len(ids) % 2000 == 0 or len(ids) == len(dues):
            progress(f"{world.kind}:   {len(ids)} timer cases created")
    return ids


def _fired_count(world: World) -> int:
    with world.db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "timer_fired")) or 0)


def _instrument(runs: list[tuple[float, int]], stop: threading.Event) -> Callable[[], None]:
    """Record each scheduler run (seconds, cases fired) and make firing stop once `stop` is set.

    Wraps the names the runner and the timer job call; returns the function that puts them back.
    """
    real_run = runner_module.fire_due_timers
    real_fire = scheduler_service.fire_case_timers

    def recorded(db: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        fired = None
        try:
            fired = real_run(db, **kwargs)
            return fired
        finally:
            runs.append((time.perf_counter() - t0, len(fired) if fired is not None else -1))

    def stoppable(session: Any, case_id: int, **kwargs: Any) -> list[str]:
        if stop.is_set():
            raise _Stop
        return real_fire(session, case_id, **kwargs)

    runner_module.fire_due_timers = recorded
    scheduler_service.fire_case_timers = stoppable

    def undo() -> None:
        runner_module.fire_due_timers = real_run
        scheduler_service.fire_case_timers = real_fire

    return undo


def run(world: World, *, timers: int, lead: float, span: float, grace: float = 60.0, poll_seconds: float = 30.0,
        seed: int = 20240601) -> list[Result]:
    """Create `timers` pending timers, let a real scheduler fire them, and report lateness."""
    progress(f"{world.kind}: timer lateness ({timers} timers due over {span:.0f} s)")
    rng = random.Random(seed)
    start_at = datetime.now(UTC) + timedelta(days=1)
    dues = [start_at + timedelta(seconds=lead + span * rng.random()) for _ in range(timers)]
    c0 = time.perf_counter()
    ids = _create(world, dues)
    creation_s = time.perf_counter() - c0
    wanted = set(ids)
    with world.db.unit_of_work(write=False) as s:
        due_of = {case_id: due for case_id, due in s.execute(select(PendingTimer.case_id, PendingTimer.due_at))
                  if case_id in wanted}
    if len(due_of) != timers:
        raise RuntimeError(f"expected {timers} pending timers, found {len(due_of)}")

    progress(f"{world.kind}:   scheduler started; timers due from {lead:.0f} s to {lead + span:.0f} s from now")
    clock.set_to(start_at)
    counter = _LogCounter()
    watched = [logging.getLogger("apscheduler"), logging.getLogger("app.scheduler")]
    for logger in watched:
        logger.addHandler(counter)
    quiet = _DropStop()
    executor_log = logging.getLogger("apscheduler.executors.default")
    executor_log.addFilter(quiet)
    runs: list[tuple[float, int]] = []
    stop = threading.Event()
    undo = _instrument(runs, stop)
    scheduler = TimerScheduler(world.db, poll_seconds=poll_seconds)
    scheduler.start()
    cutoff = max(due_of.values()) + timedelta(seconds=grace)
    try:
        while clock.now() < cutoff and _fired_count(world) < timers:
            time.sleep(0.5)
    finally:
        stopped_at = clock.now()
        stop.set()
        scheduler.shutdown()
        clock.reset()
        undo()
        for logger in watched:
            logger.removeHandler(counter)
        executor_log.removeFilter(quiet)

    with world.db.unit_of_work(write=False) as s:
        events = list(s.execute(select(CaseEvent.case_id, CaseEvent.at).where(CaseEvent.kind == "timer_fired")))
        still_pending = {case_id for (case_id,) in s.execute(select(PendingTimer.case_id)) if case_id in wanted}
    fired_at: dict[int, list[datetime]] = defaultdict(list)
    for case_id, at in events:
        fired_at[case_id].append(at)
    fired = [c for c in ids if fired_at.get(c)]
    late = {c: (min(fired_at[c]) - due_of[c]).total_seconds() for c in fired}
    unfired = [c for c in ids if not fired_at.get(c)]
    # a timer still waiting at the cutoff is at least this late
    lateness = [*late.values(), *((stopped_at - due_of[c]).total_seconds() for c in unfired)]
    bound = len(unfired) > 0
    twice = sum(1 for c in ids if len(fired_at.get(c, [])) > 1)
    lost = sum(1 for c in unfired if c not in still_pending)
    early = sum(1 for x in late.values() if x < 0)
    moments = sorted(min(fired_at[c]) for c in fired)
    busy = (moments[-1] - moments[0]).total_seconds() if len(moments) > 1 else float("nan")
    p50, p99 = percentile(lateness, 50), percentile(lateness, 99)
    detail = {
        "timers": timers, "span_s": span, "lead_s": lead, "grace_s": grace, "poll_seconds": poll_seconds,
        "creation_s": round(creation_s, 1), "scheduler_runs": len(runs),
        "longest_run_s": round(max((d for d, _ in runs), default=0.0), 1),
        "log_warnings": dict(counter.counts), "fired_for_other_cases": sum(1 for c in fired_at if c not in wanted),
        "not_fired_by_cutoff": len(unfired), "p90_s": percentile(lateness, 90), "p95_s": percentile(lateness, 95),
        "lower_bound": bound,
    }
    return [
        Result("timer_p50", f"timer lateness p50 ({timers} pending)", p50, "s", detail=detail),
        Result("timer_p99", f"timer lateness p99 ({timers} pending)", p99, "s", "≤ 1 s", p99 <= 1.0,
               detail={"lower_bound": bound}),
        Result("timer_max", "timer lateness max", max(lateness), "s", detail={"lower_bound": bound}),
        Result("timer_twice", "timers fired twice", twice, "", "0", twice == 0),
        Result("timer_lost", "timers lost (neither fired nor pending)", lost, "", "0", lost == 0),
        Result("timer_backlog", f"timers still pending {grace:.0f} s after the last due", len(unfired), "", "0",
               len(unfired) == 0),
        Result("timer_early", "timers fired before due", early, "", "0", early == 0),
        Result("timer_rate", f"firing throughput while busy (due: {timers / span:.0f}/s)",
               len(moments) / busy if busy else float("nan"), "/s"),
        Result("timer_create", "create a case with a timer (service layer, batched)", creation_s / timers * 1000,
               "ms"),
    ]
