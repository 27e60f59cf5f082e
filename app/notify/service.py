"""Who hears about what: new, returned and overdue tasks go to the bell of everyone who may act on
them, and to their phones through the outbox."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, and_, bindparam, insert, literal, select, update
from sqlalchemy.orm import Session

from app import clock
from app.bilingual import split_title
from app.cases.models import MediationCase
from app.db import Database, Prepared, UTCDateTime, json_array_has, send_at_flush
from app.notify.channels import Channel
from app.notify.models import Notification, NotificationKind, OutboxMessage, OutboxStatus
from app.org.models import OrgLevel, Role, User, path_ids
from app.tasks.models import HumanTask, TaskStatus

log = logging.getLogger(__name__)

#: delivery attempts before a message is marked failed
MAX_ATTEMPTS = 5


_USERS, _NOTES, _MESSAGES, _TASKS = User.__table__, Notification.__table__, OutboxMessage.__table__, HumanTask.__table__
#: a place and the places above it: a village, its township, its county
_LEVELS = len(OrgLevel)


def _who(by: str) -> ColumnElement[bool]:
    """The people a task concerns: the one it is assigned to (`assignee`), or the active users of its
    place and the places above it (parameters `unit0`.., padded with NULL) who have its role
    (`place`), and its department when it has one (`department`)."""
    active = _USERS.c.active.is_(True)
    if by == "assignee":
        return and_(active, _USERS.c.id == bindparam("assignee_id", type_=Integer))
    who = and_(active, _USERS.c.org_unit_id.in_([bindparam(f"unit{i}", type_=Integer) for i in range(_LEVELS)]),
               json_array_has(_USERS.c.roles, bindparam("role", type_=String)))
    if by == "department":
        who = and_(who, _USERS.c.department_id == bindparam("department_id", type_=Integer))
    return who


def _telling(by: str) -> tuple[Prepared, Prepared]:
    """A notification for each person (`_who`) about a task, and a text message for each of them
    with a phone, repeating the notification: two INSERT ... SELECT statements, which a step sends
    with its other writes, where finding the people, then writing their notifications, then their
    messages were a round trip each. The task is the newest row of its engine task in its case, which
    may be in the same round trip (a new task has no key yet); the message finds its notification by
    its person, time, kind, case and task (one each)."""
    who = _who(by)
    at = bindparam("at", type_=UTCDateTime())
    kind = bindparam("kind", type_=String)
    case_id = bindparam("case_id", type_=Integer)
    task_id = (select(_TASKS.c.id).where(_TASKS.c.case_id == case_id,
                                          _TASKS.c.engine_task_id == bindparam("engine_task_id", type_=String))
               .order_by(_TASKS.c.id.desc()).limit(1).scalar_subquery())
    notes = insert(_NOTES).from_select(
        ["user_id", "kind", "case_id", "task_id", "text", "created_at"],
        select(_USERS.c.id, kind, case_id, task_id, bindparam("text", type_=String), at).where(who))
    note = and_(_NOTES.c.user_id == _USERS.c.id, _NOTES.c.created_at == at, _NOTES.c.kind == kind,
                _NOTES.c.case_id == case_id, _NOTES.c.task_id == task_id)
    messages = insert(_MESSAGES).from_select(
        ["channel", "recipient", "body", "notification_id", "status", "attempts", "next_attempt_at", "last_error",
         "created_at"],
        select(literal("sms"), _USERS.c.phone, bindparam("body", type_=String), _NOTES.c.id,
               literal(OutboxStatus.pending.value), literal(0), at, literal(""), at)
        .select_from(_USERS.join(_NOTES, note)).where(who, _USERS.c.phone.is_not(None), _USERS.c.phone != ""))
    return Prepared(notes), Prepared(messages)


_TELL = {by: _telling(by) for by in ("assignee", "place", "department")}


def _tell(session: Session, kind: NotificationKind, case: MediationCase, task: HumanTask, text: str, *,
          unit_path: str, role: str, department_id: int | None = None, assignee_id: int | None = None) -> None:
    """Tell the people of a task (see `_who`) about it, with the step's other writes."""
    params: dict[str, Any] = {"kind": kind.value, "case_id": case.id, "engine_task_id": task.engine_task_id,
                              "text": text[:500], "body": f"【一站式调处】{text}"[:500], "at": clock.now()}
    if assignee_id is not None:
        by = "assignee"
        params["assignee_id"] = assignee_id
    else:
        units = path_ids(unit_path)
        if len(units) > _LEVELS:
            raise ValueError(f"a place below a village: {unit_path}")
        params.update({f"unit{i}": unit for i, unit in enumerate(units + [None] * (_LEVELS - len(units)))})
        params["role"] = role
        by = "place" if department_id is None else "department"
        if department_id is not None:
            params["department_id"] = department_id
    for statement in _TELL[by]:
        send_at_flush(session, statement, params)


def _tell_people_of(session: Session, kind: NotificationKind, case: MediationCase, task: HumanTask,
                    text: str) -> None:
    """Tell the assignee of a task, or else every active user who may act on it."""
    _tell(session, kind, case, task, text, unit_path=task.place(session).path, role=task.role,
          department_id=task.department_id, assignee_id=task.assignee_id)


def _chinese(title: str | None) -> str:
    """The Chinese part of a bilingual task title ("部门办理 Handle the dispatch"): a notification is a
    Chinese sentence, sent as it is by SMS."""
    return split_title(title)[0]


def notify_tasks_created(session: Session, created: Iterable[tuple[MediationCase, HumanTask]]) -> None:
    """Tell the people who may do new tasks that they are waiting. The tasks may still be waiting to
    be written themselves: all of it goes with the next flush."""
    for case, task in created:
        _tell_people_of(session, NotificationKind.task_new, case, task,
                        f"新待办：{case.case_no}「{case.title}」— {_chinese(task.title)}")


def returned_reason(data: Any) -> str:
    """Why a department returned its dispatch (退单), from what its completed task holds."""
    if not isinstance(data, dict):
        return ""
    return str(data.get("return_reason") or data.get("reason") or data.get("text") or "")


def notify_task_returned(session: Session, case: MediationCase, task: HumanTask, data: Any) -> None:
    """Tell the case's mediators that a department returned its dispatch (退单) with the task's `data`."""
    who = task.department.name if task.department else task.role
    reason = returned_reason(data)
    text = f"退单：{who} 退回了 {case.case_no}「{case.title}」" + (f"，理由：{reason}" if reason else "")
    _tell(session, NotificationKind.task_returned, case, task, text, unit_path=case.org_unit.path,
          role=Role.mediator.value)


def notify_overdue_tasks(session: Session) -> int:
    """Tell the people of every task that has just become overdue (once per task)."""
    now = clock.now()
    tasks = list(session.scalars(select(HumanTask).where(
        HumanTask.status == TaskStatus.open, HumanTask.due_at < now, HumanTask.overdue_notified_at.is_(None))
        .limit(500)))
    for task in tasks:
        _tell_people_of(session, NotificationKind.task_overdue, task.case, task,
                        f"已超期：{task.case.case_no}「{task.case.title}」— {_chinese(task.title)}")
        task.overdue_notified_at = now
    return len(tasks)


def unread_count(session: Session, user: User, *, cap: int | None = None) -> int:
    """How many of the person's notifications are unread; with `cap`, counted only up to it.

    The bell asks on every page and every minute of every open page: a mediator who never reads
    them has tens of thousands, each counted (PostgreSQL: 1.6 ms for 10,000, growing with them) to
    show "99+"."""
    from sqlalchemy import func

    unread = select(Notification.id).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if cap is not None:
        unread = unread.limit(cap)
    return session.scalar(select(func.count()).select_from(unread.subquery())) or 0


def list_notifications(session: Session, user: User, *, limit: int = 50) -> list[Notification]:
    return list(session.scalars(select(Notification).where(Notification.user_id == user.id)
                                .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def mark_read(session: Session, user: User, ids: Iterable[int] | None = None) -> None:
    """Mark some (or all) of the user's notifications as read."""
    query = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids)))
    session.execute(query.values(read_at=clock.now()))


def deliver_outbox(db: Database, channel: Channel, *, limit: int = 100) -> int:
    """Send due outbox messages, each in its own transaction; failures retry with backoff."""
    sent = 0
    for _ in range(limit):
        with db.unit_of_work() as session:
            query = (select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.pending,
                                                 OutboxMessage.channel == channel.name,
                                                 OutboxMessage.next_attempt_at <= clock.now())
                     .order_by(OutboxMessage.id).limit(1))
            if not db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            message = session.scalar(query)
            if message is None:
                break
            message.attempts += 1
            try:
                channel.send(message.recipient, message.body)
            except Exception as exc:  # noqa: BLE001 - a gateway failure must not stop the others
                message.last_error = str(exc)[:1000]
                if message.attempts >= MAX_ATTEMPTS:
                    message.status = OutboxStatus.failed
                else:
                    message.next_attempt_at = clock.now() + timedelta(minutes=2 ** message.attempts)
                log.warning("sending outbox message %s failed: %s", message.id, exc)
                continue
            message.status = OutboxStatus.sent
            message.sent_at = clock.now()
            sent += 1
    return sent
