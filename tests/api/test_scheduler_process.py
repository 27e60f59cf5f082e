"""`onestop scheduler` as a real process: killed with SIGKILL mid-work and restarted, it fires every
timer exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cases.models import CaseEvent
from app.scheduler.models import PendingTimer

BUNDLES = Path(__file__).parent / "bundles"
ROOT = Path(__file__).resolve().parents[2]


def start_scheduler(db_url: str) -> subprocess.Popen:
    env = {**os.environ, "ONESTOP_DATABASE_URL": db_url, "ONESTOP_SCHEDULER_POLL_SECONDS": "1"}
    env.pop("ONESTOP_TESTING", None)
    return subprocess.Popen([sys.executable, "-m", "app.cli", "scheduler"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def counts(database) -> tuple[int, int, int]:
    with database.unit_of_work(write=False) as s:
        fired = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "timer_fired"))
        distinct = s.scalar(select(func.count(func.distinct(CaseEvent.case_id)))
                            .where(CaseEvent.kind == "timer_fired"))
        pending = s.scalar(select(func.count()).select_from(PendingTimer).where(PendingTimer.name == "提醒"))
    return fired, distinct, pending


@pytest.mark.slow
def test_killed_scheduler_loses_nothing_and_fires_nothing_twice(api, database, db_url):
    assert api.deploy({"timers.bpmn": (BUNDLES / "timers.bpmn").read_text()}).status_code == 201
    cases = 120  # more than one batch of the scheduler (50 cases per transaction), so a kill lands mid-run
    for _ in range(cases):
        assert api.intake(process_id="timers", data={"remind_after": "PT1S"}).status_code == 201
    time.sleep(1.2)  # every reminder is due now

    proc = start_scheduler(db_url)
    try:
        deadline = time.monotonic() + 30
        while counts(database)[0] < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # mid-work: some cases fired, some not, maybe one half-done
        proc.wait(timeout=10)
        fired_before, _, _ = counts(database)
        assert 0 < fired_before < cases, fired_before

        proc = start_scheduler(db_url)
        deadline = time.monotonic() + 60
        while counts(database)[2] > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    fired, distinct, pending = counts(database)
    assert pending == 0
    assert fired == distinct == cases
