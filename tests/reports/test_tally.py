"""The database's tally of the monthly assessment (app/reports/tally.py) against the rules stated in
plain Python (tests/reports/oracle.py), on generated months full of awkward histories: extension
requests waiting for the leader, withdrawn dispatches, answers given after the month ended, callbacks
before any opinion, tasks without a time limit, cases closed with work still open. Every count of
every unit, and the cases behind every count, must agree, on both databases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from app import clock
from app.cases.models import MediationCase
from app.org.models import Department, OrgUnit
from app.processes.service import deploy_bundle, latest_process_version, pin_runtime_spec, read_bundle_dir
from app.reports import metrics, tally
from app.tasks.models import HumanTask
from tests.reports import oracle
from tests.reports.rows import case_row, task_row

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
ACTIONS = ("opinion", "opinion", "return", "extension", "extension", None, "something_else")
DRILLS = (*metrics.KEYS, "not_on_time")


def _world(session) -> dict:
    def unit(code: str, level: str, parent: OrgUnit | None) -> OrgUnit:
        found = OrgUnit(code=code, name=code, level=level, parent_id=parent.id if parent else None, path="/")
        session.add(found)
        session.flush()
        found.path = f"{parent.path if parent else '/'}{found.id}/"
        return found

    county = unit("county", "county", None)
    towns = [unit(f"town{i}", "township", county) for i in range(2)]
    villages = [unit(f"village{i}{j}", "village", town) for i, town in enumerate(towns) for j in range(2)]
    departments = [Department(code=f"d{i}", name=f"部门{i}", org_unit_id=county.id) for i in range(4)]
    session.add_all(departments)
    deploy_bundle(session, {**read_bundle_dir(ROOT / "processes"), **read_bundle_dir(ROOT / "forms")}, note="test")
    spec = pin_runtime_spec(session, latest_process_version(session, "mediation"))
    session.flush()
    return {"units": [county.id, *[t.id for t in towns], *[v.id for v in villages]],
            "towns": towns, "departments": [d.id for d in departments], "spec": spec}


def _maybe(rng: random.Random, moment: datetime, hours: tuple[int, int], chance: float) -> datetime | None:
    return moment + rng.randint(*hours) * HOUR if rng.random() < chance else None


def _history(rng: random.Random, w: dict, case_id: int) -> tuple[dict, list[dict]]:
    """One case and its tasks, as odd as the engine (or a migration, or a bug) could leave them."""
    created = datetime(2026, 8, 20, tzinfo=UTC) + timedelta(minutes=rng.randrange(93 * 24 * 60))
    unit = rng.choice(w["units"])
    tasks: list[dict] = []

    def task(at: datetime, **fields) -> dict:
        row = task_row(case_id, len(tasks) + 1, org_unit_id=unit, created=at, **fields)
        tasks.append(row)
        return row

    if rng.random() < 0.95:
        done = _maybe(rng, created, (1, 60), 0.85)
        task(created, role="receiver", due=_maybe(rng, created, (20, 30), 0.9), done=done,
             status="completed" if done else "open")
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        department = rng.choice(w["departments"]) if rng.random() < 0.95 else None
        at = created + rng.randint(1, 50) * HOUR
        for _round in range(rng.choice((1, 1, 2, 3))):  # a re-dispatch or a new round to the same department
            while True:
                done = _maybe(rng, at, (1, 200), 0.8)
                action = rng.choice(ACTIONS) if done else None
                task(at, role=rng.choice(("department", "department", "service")), department=department,
                     due=_maybe(rng, at, (24, 120), 0.9), done=done, status="completed" if done else "open",
                     form="department_opinion.json", data={"action": action, "text": "意见"} if action else None)
                if not (action == "extension" and done and rng.random() < 0.8):
                    break  # the request waits for the leader, or the chain ends with this answer
                at = done + rng.randint(0, 30) * HOUR  # extension approved: the department gets it again
            at = at + rng.randint(20, 300) * HOUR
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        at = created + rng.randint(2, 400) * HOUR
        done = _maybe(rng, at, (1, 48), 0.8)
        data = {"solved": rng.choice((True, False, "true", 1)), "satisfied": rng.choice((True, False, None))}
        task(at, due=_maybe(rng, at, (24, 48), 0.8), done=done, status="completed" if done else "open",
             form=tally.CALLBACK_FORM, data=data if done and rng.random() < 0.95 else None)
    closed_at = None
    if rng.random() < 0.65:
        last = max([t["completed_at"] or t["created_at"] for t in tasks], default=created)
        closed_at = last + rng.randint(0, 100) * HOUR
        for t in tasks:
            if t["completed_at"] is None and rng.random() < 0.9:  # closing cancels what is open, nearly always
                t.update(status="cancelled", completed_at=closed_at)
    if rng.random() < 0.05:  # a withdrawn dispatch on a running case
        for t in tasks:
            if t["completed_at"] is None and t["role"] != "mediator":
                t.update(status="cancelled", completed_at=t["created_at"] + 3 * HOUR)
                break
    case = case_row(case_id, created, spec_id=w["spec"], org_unit_id=unit,
                    status="closed" if closed_at else "open", closed_at=closed_at)
    return case, tasks


@pytest.fixture
def generated(db):
    clock.set_to(NOW)
    rng = random.Random(20261123)
    with db.unit_of_work() as s:
        w = _world(s)
        cases, tasks = [], []
        for case_id in range(1, 601):
            case, its_tasks = _history(rng, w, case_id)
            cases.append(case)
            tasks.extend(its_tasks)
        s.execute(insert(MediationCase.__table__), cases)
        s.execute(insert(HumanTask.__table__), tasks)
    yield w
    clock.reset()


PERIODS = [metrics.month_period(2026, m, NOW) for m in (8, 9, 10, 11)]
# and a moment inside a month, as a current month is read
PERIODS.append(metrics.Period("2026-10", PERIODS[2].start, PERIODS[2].end, datetime(2026, 10, 17, 5, 30, tzinfo=UTC)))


def _sql_counts(s, sources) -> dict[int, dict[str, int]]:
    found = tally.count(s, sources, DRILLS)
    return {unit: {k: v for k, v in counts.items() if v} for unit, counts in found.items()
            if any(counts.values())}


def _compare(s, sources, expected: dict[int, oracle.Row], what: str) -> None:
    assert _sql_counts(s, sources) == {u: r.counts() for u, r in expected.items() if r.counts()}, what
    for unit, row in expected.items():
        for key in DRILLS:
            assert set(tally.cases_behind(s, sources, key, [unit])) == set(row.items.get(key, ())), (what, unit, key)


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p.month}@{p.as_of:%d}")
def test_the_database_counts_what_the_rules_say(db, generated, period):
    with db.unit_of_work(write=False) as s:
        areas = [None, s.get(OrgUnit, generated["towns"][1].id)]
        for area in areas:
            facts = oracle.load_facts(s, period, area)
            window = tally.Window(period.start, period.as_of)
            label = f"{period.month} as of {period.as_of}, area {area.code if area else 'all'}"
            departments = oracle.department_rows(facts)
            assert sum(r.counts().get("dispatched", 0) for r in departments.values()) > 10  # the month has work
            _compare(s, tally.department_sources(window, area), departments, "departments, " + label)
            _compare(s, tally.place_sources(window, area), oracle.place_rows(facts), "places, " + label)
