"""The timer scheduler: sleeps until the earliest pending timer, re-armed when an earlier one appears.

APScheduler runs one date job ("wake") at the earliest due time and a slow interval job as a
safety net. In the web process it is woken directly after each commit that writes a timer; as its
own process (`onestop scheduler`) on PostgreSQL it also listens for NOTIFY from the web workers.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from app import clock
from app.cases import service as case_service
from app.db import Database
from app.notify.channels import Channel, LogChannel
from app.notify.service import deliver_outbox, notify_overdue_tasks
from app.scheduler.service import Fired, adopt_clock, earliest_due, fire_due_timers

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "onestop_timer"


class TimerScheduler:
    """Fires due timers on time; one per process, started by `start()`."""

    def __init__(self, db: Database, *, poll_seconds: float = 30.0, listen: bool = False,
                 follow_test_clock: bool = False, channel: Channel | None = None,
                 housekeeping_seconds: float = 30.0) -> None:
        self.db = db
        self.channel = channel or LogChannel()
        self.housekeeping_seconds = housekeeping_seconds
        self.follow_test_clock = follow_test_clock
        self.poll_seconds = poll_seconds
        self.listen = listen and not db.is_sqlite
        self._scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                                                           "misfire_grace_time": None})
        self._lock = threading.Lock()
        self._armed_for: datetime | None = None
        self._running = False
        self._stop = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
        self._scheduler.start()
        self._scheduler.add_job(self.run_due, "interval", seconds=self.poll_seconds, id="poll",
                                replace_existing=True)
        self._scheduler.add_job(self.housekeeping, "interval", seconds=self.housekeeping_seconds,
                                id="housekeeping", replace_existing=True)
        case_service.timer_listeners.append(self.notify)
        if self.listen:
            threading.Thread(target=self._listen_loop, name="onestop-timer-listen", daemon=True).start()
        self.run_due()

    def shutdown(self) -> None:
        with self._lock:
            if not self._running:
                return
            self._running = False
        self._stop.set()
        if self.notify in case_service.timer_listeners:
            case_service.timer_listeners.remove(self.notify)
        self._scheduler.shutdown(wait=True)

    def run_due(self) -> None:
        """Fire what is due, then sleep until the next timer."""
        try:
            if self.follow_test_clock:
                adopt_clock(self.db)
            # keep firing while more became due during the run; re-arming the running job for a
            # moment a few ms away can be skipped by APScheduler (max_instances=1)
            fired: list[Fired] = []
            for _ in range(100):
                fired += fire_due_timers(self.db)
                due = earliest_due(self.db)
                if due is None or due > clock.now():
                    break
            if fired:  # what an operator's log says about deadlines (APScheduler's own chatter is off)
                shown = "、".join(f.case_no for f in fired[:10]) + (" …" if len(fired) > 10 else "")
                log.info("fired %d timer(s) of %d case(s): %s", sum(len(f.names) for f in fired), len(fired), shown)
        except Exception:  # noqa: BLE001 - the scheduler must survive anything
            log.exception("timer run failed")
        self.arm()

    def housekeeping(self) -> None:
        """Tell people about tasks that became overdue, and send the outbox."""
        try:
            with self.db.unit_of_work() as session:
                notify_overdue_tasks(session)
            deliver_outbox(self.db, self.channel)
        except Exception:  # noqa: BLE001 - the scheduler must survive anything
            log.exception("housekeeping failed")

    def arm(self) -> None:
        """Schedule the wake-up job at the earliest pending due time."""
        try:
            due = earliest_due(self.db)
        except Exception:  # noqa: BLE001
            log.exception("reading the earliest timer failed")
            return
        self._arm_at(due, force=True)

    def notify(self, due_at: datetime) -> None:
        """A commit wrote a timer due at `due_at`: wake earlier if needed."""
        self._arm_at(due_at, force=False)

    def _arm_at(self, due: datetime | None, *, force: bool) -> None:
        if not self._running:
            return
        with self._lock:
            if due is None:
                self._armed_for = None
                if self._scheduler.get_job("wake"):
                    self._scheduler.remove_job("wake")
                return
            if not force and self._armed_for is not None and self._armed_for <= due:
                return
            self._armed_for = due
            # the job runs in real time; the test clock may be ahead of it
            run_at = max(due - clock.offset(), datetime.now(UTC)) + timedelta(milliseconds=5)
            self._scheduler.add_job(self.run_due, "date", run_date=run_at, id="wake", replace_existing=True)

    def _listen_loop(self) -> None:
        import psycopg

        url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    for _note in conn.notifies(timeout=self.poll_seconds, stop_after=None):
                        if self._stop.is_set():
                            return
                        self.arm()
            except Exception:  # noqa: BLE001
                log.exception("LISTEN failed; retrying")
                self._stop.wait(2)


_started: TimerScheduler | None = None
_started_lock = threading.Lock()


def start_scheduler(db: Database, *, poll_seconds: float, listen: bool = False,
                    follow_test_clock: bool = False, channel: Channel | None = None) -> TimerScheduler:
    """Start this process's one scheduler (a second call returns the running one)."""
    global _started
    with _started_lock:
        if _started is None:
            _started = TimerScheduler(db, poll_seconds=poll_seconds, listen=listen,
                                      follow_test_clock=follow_test_clock, channel=channel)
            _started.start()
        return _started


def stop_scheduler() -> None:
    global _started
    with _started_lock:
        if _started is not None:
            _started.shutdown()
            _started = None
