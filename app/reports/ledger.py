"""The ledger (台账): every case the user may see, one row each, filtered; as a page, JSON, XLSX or CSV.

The filters and the row are defined once here; the page, the API and both exports use them. A row's
deadlines, overdue days, responsible person, result and satisfaction come from the case's task rows
(read per batch of cases, never from the engine state).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, case, false, func, select
from sqlalchemy.orm import Session

from app import clock
from app.cases.models import CaseStatus, MediationCase
from app.cases.queries import STAGES, catalogue, overdue_clause, scoped, text_match, with_department
from app.db import id_in, planner_settings
from app.errors import InvalidInput
from app.org.models import Department, OrgUnit, User
from app.org.service import sees_area
from app.reports import metrics, tally, xlsx
from app.tasks.models import HumanTask, TaskStatus
from app.timeutil import LOCAL_TZ, local_iso

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
#: cases read per query while exporting (and per task lookup)
BATCH = 1000

STAGE_ZH = {"intake": "受理", "accept": "受理", "settle": "即办", "local": "本级调处", "triage": "分流研判",
            "convene": "部门办理", "mediate": "联合调解", "reply": "回复", "callback": "回访", "closed": "办结"}
STATUS_ZH = {"open": "办理中", "closed": "已办结"}
CHANNEL_ZH = {"walk_in": "来访（窗口）", "hotline": "热线电话", "grid": "网格员上报", "online": "网上反映",
              "open311": "外部系统"}
RESULT_ZH = {"solved": "已解决", "unsolved": "未解决", "settled": "已化解"}
SATISFACTION_ZH = {"satisfied": "满意", "unsatisfied": "不满意"}
ROLE_ZH = {"receiver": "受理员", "mediator": "调解员", "department": "部门", "service": "服务机构", "leader": "领导"}

#: (key, Chinese header, column width in characters) of the exports, in order
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("case_no", "事项编号", 16), ("title", "标题", 30), ("created_at", "登记时间", 17),
    ("closed_at", "办结时间", 17), ("township", "乡镇", 10), ("place", "地点", 12), ("category", "类别", 12),
    ("channel", "来源渠道", 11), ("lead_department", "牵头部门", 14), ("co_departments", "协办部门", 24),
    ("stage", "阶段", 9), ("status", "状态", 8), ("responsible", "责任人", 14),
    ("deadline_accept", "受理时限", 17), ("deadline_convene", "召集时限", 17), ("deadline_reply", "回复时限", 17),
    ("deadline_callback", "回访时限", 17), ("overdue", "当前超期", 9), ("overdue_days", "超期天数", 9),
    ("result", "办理结果", 10), ("satisfaction", "满意度", 8),
)


@dataclass(frozen=True)
class Filters:
    """What the ledger is limited to. Dates are local days, both included, on the intake time."""

    start: date | None = None
    end: date | None = None
    org_unit: str = ""
    category: str = ""
    department: str = ""
    stage: str = ""
    status: str = ""
    overdue: bool | None = None
    q: str = ""
    #: a drill-down from the ranking: only these cases (month, by, unit, metric say which)
    case_ids: tuple[int, ...] | None = None
    drill: dict[str, str] = field(default_factory=dict)

    def args(self) -> dict[str, str]:
        """The filters as query parameters (for links, pagers and export buttons)."""
        found = {"from": self.start.isoformat() if self.start else "", "to": self.end.isoformat() if self.end else "",
                 "org_unit": self.org_unit, "category": self.category, "department": self.department,
                 "stage": self.stage, "status": self.status, "q": self.q,
                 "overdue": "" if self.overdue is None else ("1" if self.overdue else "0")}
        found.update(self.drill)
        return {k: v for k, v in found.items() if v}


def _date(args: Mapping[str, str], key: str, errors: dict[str, str]) -> date | None:
    raw = (args.get(key) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[key] = "use YYYY-MM-DD"
        return None


def parse_filters(session: Session, user: User, args: Mapping[str, str]) -> Filters:
    """Read the ledger's filters from query parameters; every bad one is named (422)."""
    errors: dict[str, str] = {}
    start, end = _date(args, "from", errors), _date(args, "to", errors)
    month = (args.get("month") or "").strip()
    metric = (args.get("metric") or "").strip()
    if month and not metric and not (start or end):
        try:
            period = metrics.parse_month(month)
            start = period.start.date()
            end = (period.end - timedelta(days=1)).date()
        except InvalidInput as exc:
            errors.update(exc.fields)
    if start and end and end < start:
        errors["to"] = "must not be before from"
    org_unit = (args.get("org_unit") or "").strip()
    if org_unit and session.scalar(select(OrgUnit.id).where(OrgUnit.code == org_unit)) is None:
        errors["org_unit"] = "no such org unit"
    department = (args.get("department") or "").strip()
    if department and session.scalar(select(Department.id).where(Department.code == department)) is None:
        errors["department"] = "no such department"
    stage = (args.get("stage") or "").strip()
    if stage and stage not in STAGES and stage != "intake":
        errors["stage"] = f"one of {', '.join(STAGES)}"
    status = (args.get("status") or "").strip()
    if status and status not in ("open", "closed"):
        errors["status"] = "open or closed"
    overdue: bool | None = None
    raw = (args.get("overdue") or "").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        overdue = True
    elif raw in ("0", "false", "no"):
        overdue = False
    elif raw:
        errors["overdue"] = "true or false"
    category = (args.get("category") or "").strip()[:64]
    q = (args.get("q") or "").strip()[:100]
    case_ids = None
    drill: dict[str, str] = {}
    if metric:
        from app.reports.ranking import scope_for

        by = (args.get("by") or "").strip()
        unit = (args.get("unit") or "").strip()
        if not errors:
            period = metrics.parse_month(month or None)
            scope = scope_for(user, by)
            if scope.departments is not None and by == "department":
                own = session.scalar(select(Department.code).where(Department.id == scope.departments[0]))
                if unit != own:
                    errors["unit"] = "your own department only"
            if not errors:
                ids = metrics.drill(session, period, by, unit, metric, area=scope.area)
                case_ids = tuple(ids)
                drill = {"month": period.month, "by": by, "unit": unit, "metric": metric}
    if errors:
        raise InvalidInput("the ledger filters are not valid", fields=errors)
    return Filters(start=start, end=end, org_unit=org_unit, category=category, department=department, stage=stage,
                   status=status, overdue=overdue, q=q, case_ids=case_ids, drill=drill)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LOCAL_TZ)


def sees_everything(user: User) -> bool:
    """Admins, and the place-based roles of the top org unit (the county), see every case: their
    ledger needs no scope condition (which would cost a join on every row)."""
    return user.is_admin or (sees_area(user) and user.org_unit.parent_id is None)


def query(session: Session, user: User, filters: Filters, columns: tuple[Any, ...] = (MediationCase.id,)
          ) -> Select[Any]:
    """SQL of the ledger: the case rows the user may see that pass the filters (no order); the
    case's id, or the given columns."""
    stmt = select(*columns)
    if not sees_everything(user):
        stmt = scoped(stmt.join(OrgUnit, OrgUnit.id == MediationCase.org_unit_id), user)
    if filters.case_ids is not None:
        stmt = stmt.where(MediationCase.id.in_(filters.case_ids) if filters.case_ids else false())
    if filters.start:
        stmt = stmt.where(MediationCase.created_at >= _local_midnight(filters.start))
    if filters.end:
        stmt = stmt.where(MediationCase.created_at < _local_midnight(filters.end + timedelta(days=1)))
    if filters.org_unit:
        path = session.scalar(select(OrgUnit.path).where(OrgUnit.code == filters.org_unit))
        within = select(OrgUnit.id).where(OrgUnit.path.startswith(path)) if path else None
        stmt = stmt.where(MediationCase.org_unit_id.in_(within) if within is not None else false())
    if filters.category:
        stmt = stmt.where(MediationCase.category == filters.category)
    if filters.department:
        department = session.scalar(select(Department).where(Department.code == filters.department))
        since = _local_midnight(filters.start) if filters.start else None
        stmt = stmt.where(with_department(department, since) if department is not None else false())
    if filters.stage:
        stages = ("intake", "accept") if filters.stage in ("intake", "accept") else (filters.stage,)
        stmt = stmt.where(MediationCase.stage.in_(stages))
    if filters.status:
        stmt = stmt.where(MediationCase.status == filters.status)
    if filters.overdue is True:
        stmt = stmt.where(overdue_clause(clock.now()))
    elif filters.overdue is False:
        stmt = stmt.where(~overdue_clause(clock.now()))
    if filters.q:
        stmt = stmt.where(text_match(filters.q))
    return stmt


@dataclass
class LedgerRow:
    """One case as the ledger shows it (codes; the labels are added for people)."""

    id: int
    case_no: str
    title: str
    created_at: datetime
    closed_at: datetime | None
    township: str
    place: str
    category: str | None
    channel: str
    urgency: str
    lead_department: str | None
    departments: list[str]
    stage: str
    status: str
    responsible: str
    deadlines: dict[str, datetime | None]
    overdue: bool
    overdue_days: int
    result: str | None
    satisfaction: str | None

    @property
    def co_departments(self) -> list[str]:
        return [d for d in self.departments if d != self.lead_department]

    def as_dict(self, names: Mapping[str, str]) -> dict[str, Any]:
        """The API's shape: codes and ISO times, department names alongside their codes."""
        return {
            "case_no": self.case_no, "title": self.title, "created_at": local_iso(self.created_at),
            "closed_at": local_iso(self.closed_at), "township": self.township, "place": self.place,
            "category": self.category, "channel": self.channel, "urgency": self.urgency,
            "lead_department": self.lead_department,
            "lead_department_name": names.get(self.lead_department or "", self.lead_department),
            "co_departments": self.co_departments, "stage": self.stage, "status": self.status,
            "responsible": self.responsible,
            "deadlines": {k: local_iso(v) for k, v in self.deadlines.items()},
            "overdue": self.overdue, "overdue_days": self.overdue_days,
            "result": self.result, "satisfaction": self.satisfaction,
        }


class Names:
    """Names the rows need, read once per page or export: places, townships, departments; the
    category labels (a parse of the intake form) only when an export asks for them."""

    def __init__(self, session: Session) -> None:
        self._session = session
        units = {uid: name for uid, name in session.execute(select(OrgUnit.id, OrgUnit.name))}
        township_of = metrics.townships(session)
        self.place = units
        self.township = {uid: (units[t] if t is not None else "") for uid, t in township_of.items()}
        rows = list(session.execute(select(Department.id, Department.code, Department.name)))
        self.departments = {code: name for _, code, name in rows}
        self.department_ids = {i: name for i, _, name in rows}
        self._categories: dict[str, str] | None = None
        #: every user's display name, when read once for a whole export (else None: looked up per page)
        self.users: dict[int, str] | None = None

    def with_users(self) -> Names:
        """Read every user's name now: an export then needs no look-up per batch."""
        self.users = {i: n for i, n in self._session.execute(select(User.id, User.display_name))}
        return self

    @property
    def categories(self) -> dict[str, str]:
        if self._categories is None:
            self._categories = {c.code: c.zh for c in catalogue(self._session)}
        return self._categories


NEWEST_FIRST = (MediationCase.created_at.desc(), MediationCase.id.desc())
CASE_COLUMNS = (MediationCase.id, MediationCase.case_no, MediationCase.title, MediationCase.created_at,
                MediationCase.closed_at, MediationCase.org_unit_id, MediationCase.category, MediationCase.channel,
                MediationCase.urgency, MediationCase.lead_department, MediationCase.departments, MediationCase.stage,
                MediationCase.status, MediationCase.deadline_accept, MediationCase.deadline_convene,
                MediationCase.deadline_reply, MediationCase.deadline_callback)


def _rows(session: Session, cases: list[Any], names: Names) -> list[LedgerRow]:
    """Ledger rows of these cases (rows of CASE_COLUMNS), in their order: one query for their tasks
    and, unless the names hold every user, one for the people on them. Each case's tasks are read
    in one pass (the exports build every row here)."""
    if not cases:
        return []
    tasks: dict[int, list[Any]] = {c.id: [] for c in cases}
    callback_data = case((HumanTask.form == tally.CALLBACK_FORM, HumanTask.data), else_=None)
    for t in session.execute(select(HumanTask.case_id, HumanTask.due_at, HumanTask.completed_at, HumanTask.status,
                                    HumanTask.assignee_id, HumanTask.completed_by_id, HumanTask.department_id,
                                    HumanTask.role, HumanTask.id, HumanTask.form, callback_data.label("callback"))
                             .where(id_in(session, HumanTask.case_id, list(tasks)))):
        tasks[t.case_id].append(t)
    users = names.users
    if users is None:
        user_ids = {u for ts in tasks.values() for t in ts for u in (t.assignee_id, t.completed_by_id) if u}
        users = {i: n for i, n in session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))} \
            if user_ids else {}
    dept_names = names.department_ids
    now = clock.now()
    rows = []
    for c in cases:
        open_tasks: list[Any] = []
        last_done = last_callback = None
        worst = 0.0
        for t in tasks[c.id]:
            status = t.status
            if status == TaskStatus.cancelled:
                continue
            if status == TaskStatus.open:
                open_tasks.append(t)
                end = now
            else:
                end = t.completed_at
                if t.completed_by_id and (last_done is None or (end, t.id) > (last_done.completed_at, last_done.id)):
                    last_done = t
                if t.form == tally.CALLBACK_FORM and (
                        last_callback is None or (end, t.id) > (last_callback.completed_at, last_callback.id)):
                    last_callback = t
            if t.due_at is not None and end is not None:
                worst = max(worst, (end - t.due_at).total_seconds())
        if len(open_tasks) > 1:
            open_tasks.sort(key=lambda t: (t.due_at is None, t.due_at or now, t.id))
        callback = None
        if last_callback is not None:
            callback = last_callback.callback if isinstance(last_callback.callback, dict) else {}
        closed = c.status == CaseStatus.closed
        result = satisfaction = None
        if callback is not None:
            if closed or c.stage == "callback":
                result = "solved" if callback.get("solved") is True else "unsolved"
            satisfaction = "satisfied" if callback.get("satisfied") is True else "unsatisfied"
        elif closed:
            result = "settled"
        if open_tasks:
            responsible = _holders(open_tasks, users, dept_names)
        else:
            responsible = users.get(last_done.completed_by_id, "") if last_done is not None else ""
        rows.append(LedgerRow(
            id=c.id, case_no=c.case_no, title=c.title, created_at=c.created_at, closed_at=c.closed_at,
            township=names.township.get(c.org_unit_id, ""), place=names.place.get(c.org_unit_id, ""),
            category=c.category, channel=c.channel, urgency=c.urgency, lead_department=c.lead_department,
            departments=[str(d) for d in (c.departments or [])], stage=c.stage, status=str(c.status),
            responsible=responsible,
            deadlines={"accept": c.deadline_accept, "convene": c.deadline_convene, "reply": c.deadline_reply,
                       "callback": c.deadline_callback},
            overdue=not closed and any(t.due_at is not None and t.due_at < now for t in open_tasks),
            overdue_days=metrics.days_begun(worst), result=result, satisfaction=satisfaction))
    return rows


def _holders(open_tasks: list[Any], users: Mapping[int, str], dept_names: Mapping[int, str]) -> str:
    """Who has the case now: the people (or departments, or roles) of its open tasks, soonest due
    first. (A finished case's responsible is who completed its last task.)"""
    found: list[str] = []
    for t in open_tasks:
        if t.assignee_id and users.get(t.assignee_id):
            who = users[t.assignee_id]
        elif t.department_id:
            who = dept_names.get(t.department_id, "")
        else:
            who = ROLE_ZH.get(t.role, t.role)
        if who and who not in found:
            found.append(who)
    return "、".join(found)


@dataclass
class Page:
    items: list[LedgerRow]
    total: int
    page: int
    pages: int
    page_size: int


def page(session: Session, user: User, filters: Filters, number: int = 1, size: int = PAGE_SIZE) -> Page:
    """One page of the ledger, newest first."""
    stmt = query(session, user, filters, CASE_COLUMNS)
    total = session.scalar(select(func.count()).select_from(stmt.with_only_columns(MediationCase.id).subquery())) or 0
    pages = max(1, math.ceil(total / size))
    number = min(max(1, number), pages)
    cases = list(session.execute(stmt.order_by(*NEWEST_FIRST).offset((number - 1) * size).limit(size)))
    return Page(_rows(session, cases, Names(session)), total, number, pages, size)


def iterate(session: Session, user: User, filters: Filters, names: Names | None = None,
            batch: int = BATCH) -> Iterator[LedgerRow]:
    """Every row of the ledger, newest first: one streamed query for the cases (a server-side cursor
    on PostgreSQL), their tasks read a batch at a time, so memory stays flat however long it is."""
    names = names if names is not None else Names(session)
    if names.users is None:
        names.with_users()
    stmt = query(session, user, filters, CASE_COLUMNS).order_by(*NEWEST_FIRST)
    result = session.execute(stmt, execution_options={"yield_per": batch})
    for part in result.partitions(batch):
        yield from _rows(session, list(part), names)


# --- exports ------------------------------------------------------------------------------------

def _text_time(moment: datetime | None) -> str:
    """2026-10-01 09:30, local time (isoformat: twice as fast as strftime, and an export calls it
    seven times a row)."""
    return moment.astimezone(LOCAL_TZ).isoformat(" ", "minutes")[:16] if moment else ""


def values(row: LedgerRow, names: Names) -> list[Any]:
    """The row as the exports write it (Chinese labels, local times), in COLUMNS order."""
    departments = names.departments
    return [
        row.case_no, row.title, _text_time(row.created_at), _text_time(row.closed_at), row.township, row.place,
        names.categories.get(row.category or "", row.category or ""), CHANNEL_ZH.get(row.channel, row.channel),
        departments.get(row.lead_department or "", row.lead_department or ""),
        "、".join(departments.get(d, d) for d in row.co_departments),
        STAGE_ZH.get(row.stage, row.stage), STATUS_ZH.get(row.status, row.status), row.responsible,
        _text_time(row.deadlines["accept"]), _text_time(row.deadlines["convene"]),
        _text_time(row.deadlines["reply"]), _text_time(row.deadlines["callback"]),
        "是" if row.overdue else "否", row.overdue_days,
        RESULT_ZH.get(row.result or "", ""), SATISFACTION_ZH.get(row.satisfaction or "", ""),
    ]


def _python_values(session: Session, user: User, filters: Filters, names: Names) -> Iterator[list[Any]]:
    return (values(row, names) for row in iterate(session, user, filters, names))


# On PostgreSQL the exports are one COPY: the database formats every column (labels, local times, the
# task-derived columns) and streams the rows while OneStop passes them on, so the two run side by
# side instead of taking turns. Python formatting measured ~8,000 rows/s at a million cases; the
# database alone hands over a case with its tasks in ~35 µs. The SQL below is the same row as
# `_rows` and `values` compute in Python (SQLite's path), and the tests hold both to the API.

_EXPORT_SQL = """
SELECT f.case_no, f.title,
  to_char(f.created_at AT TIME ZONE %(x_tz)s, 'YYYY-MM-DD HH24:MI'),
  to_char(f.closed_at AT TIME ZONE %(x_tz)s, 'YYYY-MM-DD HH24:MI'),
  coalesce(%(x_township)s::jsonb ->> f.org_unit_id::text, ''),
  coalesce(%(x_place)s::jsonb ->> f.org_unit_id::text, ''),
  coalesce(%(x_category)s::jsonb ->> f.category, f.category, ''),
  coalesce(%(x_channel)s::jsonb ->> f.channel, f.channel),
  coalesce(%(x_department)s::jsonb ->> f.lead_department, f.lead_department, ''),
  CASE WHEN jsonb_typeof(f.departments) = 'array' THEN coalesce((
    SELECT string_agg(coalesce(%(x_department)s::jsonb ->> e.code, e.code), '、' ORDER BY e.n)
    FROM jsonb_array_elements_text(f.departments) WITH ORDINALITY AS e(code, n)
    WHERE e.code IS DISTINCT FROM f.lead_department), '') ELSE '' END,
  coalesce(%(x_stage)s::jsonb ->> f.stage, f.stage),
  coalesce(%(x_status)s::jsonb ->> f.status, f.status),
  CASE WHEN k.holders IS NULL THEN coalesce(ub.display_name, '')
       WHEN cardinality(k.holders) = 1 THEN k.holders[1]
       ELSE coalesce((SELECT string_agg(h.who, '、' ORDER BY h.n) FROM (
              SELECT who, min(n) AS n FROM unnest(k.holders) WITH ORDINALITY AS u(who, n)
              WHERE who <> '' GROUP BY who) AS h), '') END,
  to_char(f.deadline_accept AT TIME ZONE %(x_tz)s, 'YYYY-MM-DD HH24:MI'),
  to_char(f.deadline_convene AT TIME ZONE %(x_tz)s, 'YYYY-MM-DD HH24:MI'),
  to_char(f.deadline_reply AT TIME ZONE %(x_tz)s, 'YYYY-MM-DD HH24:MI'),
  to_char(f.deadline_callback AT TIME ZONE %(x_tz)s, 'YYYY-MM-DD HH24:MI'),
  CASE WHEN f.status <> 'closed' AND k.late THEN '是' ELSE '否' END,
  CASE WHEN k.worst > 0 THEN ceil(k.worst / 86400)::int ELSE 0 END,
  CASE WHEN k.callback IS NOT NULL THEN
         CASE WHEN f.status = 'closed' OR f.stage = 'callback' THEN
           CASE WHEN k.callback -> 'solved' = 'true'::jsonb THEN '已解决' ELSE '未解决' END
         ELSE '' END
       WHEN f.status = 'closed' THEN '已化解' ELSE '' END,
  CASE WHEN k.callback IS NULL THEN ''
       WHEN k.callback -> 'satisfied' = 'true'::jsonb THEN '满意' ELSE '不满意' END
FROM (%(x_cases)s) AS f
LEFT JOIN LATERAL (
  SELECT
    bool_or(t.status = 'open' AND t.due_at < %(x_now)s) AS late,
    max(extract(epoch FROM CASE WHEN t.status = 'open' THEN %(x_now)s ELSE t.completed_at END - t.due_at)) AS worst,
    (array_agg(t.completed_by_id ORDER BY t.completed_at DESC NULLS LAST, t.id DESC)
       FILTER (WHERE t.status <> 'open' AND t.completed_by_id IS NOT NULL))[1] AS last_by,
    (array_agg(coalesce(t.data, '{}'::jsonb) ORDER BY t.completed_at DESC NULLS LAST, t.id DESC)
       FILTER (WHERE t.status <> 'open' AND t.form = %(x_callback_form)s))[1] AS callback,
    array_agg(CASE WHEN coalesce(ua.display_name, '') <> '' THEN ua.display_name
                   WHEN t.department_id IS NOT NULL
                     THEN coalesce(%(x_department_id)s::jsonb ->> t.department_id::text, '')
                   ELSE coalesce(%(x_role)s::jsonb ->> t.role, t.role) END
              ORDER BY t.due_at NULLS LAST, t.id) FILTER (WHERE t.status = 'open') AS holders
  FROM human_task AS t LEFT JOIN app_user AS ua ON ua.id = t.assignee_id AND t.status = 'open'
  WHERE t.case_id = f.id AND t.status <> 'cancelled') AS k ON true
LEFT JOIN app_user AS ub ON ub.id = k.last_by
ORDER BY f.created_at DESC, f.id DESC
"""
#: the COPY formats: CSV passed through to the download; text, parsed by psycopg, for the XLSX
_COPY = {"csv": "COPY ({}) TO STDOUT WITH (FORMAT csv)", "text": "COPY ({}) TO STDOUT"}

#: Columns whose text people typed (a citizen's title, names and labels an admin entered). In the CSV
#: a cell of theirs that begins like a formula (= + - @, tab, CR) gets a leading apostrophe, so Excel
#: and WPS show it as text instead of running it (CSV injection); the XLSX holds strings as strings.
TYPED = ("title", "township", "place", "category", "lead_department", "co_departments", "responsible")
_TYPED_AT = frozenset(i for i, (key, _, _) in enumerate(COLUMNS) if key in TYPED)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(row: list[Any]) -> list[Any]:
    return ["'" + v if i in _TYPED_AT and isinstance(v, str) and v.startswith(_FORMULA_START) else v
            for i, v in enumerate(row)]


def _csv_safe_sql(sql: str) -> str:
    """The export's SELECT with the guard of `_csv_safe`, for the CSV COPY."""
    names = [f"c{i}" for i in range(len(COLUMNS))]
    starts = "'=', '+', '-', '@', chr(9), chr(13)"
    columns = [f"CASE WHEN left({n}, 1) IN ({starts}) THEN chr(39) || {n} ELSE {n} END" if i in _TYPED_AT else n
               for i, n in enumerate(names)]
    return f"SELECT {', '.join(columns)} FROM ({sql}) AS r({', '.join(names)})"


def _copy_statement(session: Session, user: User, filters: Filters, names: Names, fmt: str
                    ) -> tuple[str, dict[str, Any]]:
    """The ledger export as a COPY statement with its parameters (psycopg's, bound client-side)."""
    from psycopg.types.json import Jsonb

    cases = query(session, user, filters, CASE_COLUMNS).order_by(*NEWEST_FIRST)
    compiled = cases.compile(dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    processors = compiled._bind_processors  # SQLAlchemy's own conversions of each parameter (UTC times, JSON)
    params = {k: processors[k](v) if k in processors else v for k, v in compiled.construct_params().items()}

    def labels(mapping: Mapping[Any, str]) -> Jsonb:
        return Jsonb({str(k): v for k, v in mapping.items()})

    params.update(
        x_tz=LOCAL_TZ.key, x_now=clock.now(), x_callback_form=tally.CALLBACK_FORM,
        x_township=labels(names.township), x_place=labels(names.place), x_category=labels(names.categories),
        x_channel=labels(CHANNEL_ZH), x_department=labels(names.departments), x_stage=labels(STAGE_ZH),
        x_status=labels(STATUS_ZH), x_department_id=labels(names.department_ids), x_role=labels(ROLE_ZH))
    sql = _EXPORT_SQL.replace("%(x_cases)s", str(compiled))
    return _COPY[fmt].format(_csv_safe_sql(sql) if fmt == "csv" else sql), params


def _copy(session: Session, user: User, filters: Filters, names: Names, fmt: str) -> Iterator[Any]:
    """Stream the export's COPY: CSV bytes (about 64 KB at a time), or each row's values (text).

    Within a savepoint: a download given up half way cancels the COPY, and the session stays usable.
    """
    statement, params = _copy_statement(session, user, filters, names, fmt)
    savepoint = session.begin_nested()
    try:
        # the query's estimated cost makes PostgreSQL compile it with JIT first: a second before the
        # first row (measured), for expressions that are cheap anyway
        with planner_settings(session, jit="off"):
            cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(statement, params) as copy:
                if fmt == "text":
                    yield from copy.rows()
                else:
                    yield from _chunks(copy)
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()


def _chunks(copy: Any) -> Iterator[bytes]:
    """A COPY's CSV data in pieces of about 64 KB."""
    pending: list[bytes] = []
    size = 0
    for data in copy:
        pending.append(bytes(data))
        size += len(data)
        if size >= 65536:
            yield b"".join(pending)
            pending.clear()
            size = 0
    yield b"".join(pending)


def _uses_copy(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def export_values(session: Session, user: User, filters: Filters, names: Names | None = None
                  ) -> Iterator[list[Any]]:
    """Every ledger row as the exports write it (COLUMNS order, labels, local times), newest first."""
    names = names if names is not None else Names(session)
    if not _uses_copy(session):
        yield from _python_values(session, user, filters, names)
        return
    overdue_days = [key for key, _, _ in COLUMNS].index("overdue_days")
    for record in _copy(session, user, filters, names, "text"):
        row = ["" if v is None else v for v in record]
        row[overdue_days] = int(row[overdue_days])
        yield row


def csv_chunks(session: Session, user: User, filters: Filters, names: Names | None = None,
               every: int = 500) -> Iterator[bytes]:
    """The CSV file (UTF-8 with a BOM first, so Excel reads the Chinese), a chunk at a time."""
    names = names if names is not None else Names(session)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([header for _, header, _ in COLUMNS])
    yield buffer.getvalue().encode()  # at once: the download starts before the first case is read
    if _uses_copy(session):
        yield from _copy(session, user, filters, names, "csv")
        return
    buffer.seek(0)
    buffer.truncate()
    for n, row in enumerate(_python_values(session, user, filters, names), start=1):
        writer.writerow(_csv_safe(row))
        if n % every == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def xlsx_chunks(session: Session, user: User, filters: Filters, names: Names | None = None,
                title: str = "台账") -> Iterator[bytes]:
    """The XLSX file, yielded while the rows are read: Chinese headers in bold, the header row and
    the case number frozen, widths fitted to each column, an autofilter (app.reports.xlsx)."""
    return xlsx.stream([header for _, header, _ in COLUMNS], [width + 2 for _, _, width in COLUMNS],
                       export_values(session, user, filters, names), title=title, freeze="B2")
