"""Who hears about what: new, returned and overdue tasks go to the bell of everyone who may act on
them, and to their phones through the outbox."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from app import clock
from app.cases.models import MediationCase
from app.db import Database, RowSelect, add_row, select_rows
from app.notify.channels import Channel
from app.notify.models import Notification, NotificationKind, OutboxMessage, OutboxStatus
from app.org.models import OrgLevel, Role, User
from app.tasks.models import HumanTask, TaskStatus

log = logging.getLogger(__name__)

#: delivery attempts before a message is marked failed
MAX_ATTEMPTS = 5


def _ancestor_ids(unit_path: str) -> list[int]:
    return [int(part) for part in unit_path.strip("/").split("/") if part]


_USERS = User.__table__
#: ancestors of a place, itself included: a county, a township, a village
_LEVELS = len(OrgLevel)
#: active users of some places (one parameter per level: a place's ancestors, padded with NULL),
#: without their place and department (being told needs their id and phone only; whatever else is
#: read of them later is loaded then). Built once: a step tells people.
_ACTIVE_USERS_AT = select(_USERS).where(_USERS.c.active.is_(True),
                                        _USERS.c.org_unit_id.in_([bindparam(f"unit{i}") for i in range(_LEVELS)]))
_ACTIVE_USERS = {False: RowSelect(_ACTIVE_USERS_AT, User),
                 True: RowSelect(_ACTIVE_USERS_AT.where(_USERS.c.department_id == bindparam("department_id")), User)}


def _active_users_at(session: Session, unit_path: str, department_id: int | None = None) -> list[User]:
    """Active users of a place and the places above it (of one department, when given)."""
    units = _ancestor_ids(unit_path)
    if len(units) > _LEVELS:
        raise ValueError(f"a place below a village: {unit_path}")
    params: dict[str, int | None] = {f"unit{i}": unit for i, unit in enumerate(units + [None] * (_LEVELS - len(units)))}
    if department_id is not None:
        params["department_id"] = department_id
    return [user for (user,) in select_rows(session, (_ACTIVE_USERS[department_id is not None], params))[0]]


def users_for_task(session: Session, task: HumanTask) -> list[User]:
    """The assignee, or else every active user who may act on the task."""
    if task.assignee_id is not None:
        user = session.get(User, task.assignee_id)
        return [user] if user is not None and user.active else []
    return [u for u in _active_users_at(session, task.org_unit.path, task.department_id) if task.role in u.roles]


def case_mediators(session: Session, case: MediationCase) -> list[User]:
    """The mediators responsible for the case's place."""
    return [u for u in _active_users_at(session, case.org_unit.path) if Role.mediator in u.roles]


def _notify(session: Session, users: Iterable[User], kind: NotificationKind, case: MediationCase,
            task: HumanTask | None, text: str) -> list[Notification]:
    made = []
    now = clock.now()
    for user in users:
        note = Notification(user_id=user.id, kind=kind, case_id=case.id, task_id=task.id if task else None,
                            text=text[:500], created_at=now)
        add_row(session, note)
        made.append(note)
        if user.phone:
            # written after its notification, whose key it takes
            add_row(session, OutboxMessage(channel="sms", recipient=user.phone, body=f"【一站式调处】{text}"[:500],
                                           notification=note, next_attempt_at=now, created_at=now))
    return made


def notify_task_created(session: Session, case: MediationCase, task: HumanTask,
                        users: list[User] | None = None) -> list[Notification]:
    """Tell the people who may do a new task that it is waiting (`users`: found already)."""
    return _notify(session, users_for_task(session, task) if users is None else users, NotificationKind.task_new,
                   case, task, f"新待办：{case.case_no}「{case.title}」— {task.title}")


def notify_tasks_created(session: Session, created: Iterable[tuple[MediationCase, HumanTask]]) -> None:
    """`notify_task_created` for many flushed task rows: the people of tasks alike (same assignee,
    place, department and role) are looked up once, and the notifications are written together."""
    found: dict[tuple[int | None, int, int | None, str], list[User]] = {}
    with session.no_autoflush:
        for case, task in created:
            key = (task.assignee_id, task.org_unit_id, task.department_id, task.role)
            if key not in found:
                found[key] = users_for_task(session, task)
            notify_task_created(session, case, task, found[key])


def notify_task_returned(session: Session, case: MediationCase, task: HumanTask, reason: str) -> list[Notification]:
    """Tell the case's mediators that a department returned its dispatch (退单)."""
    who = task.department.name if task.department else task.role
    text = f"退单：{who} 退回了 {case.case_no}「{case.title}」" + (f"，理由：{reason}" if reason else "")
    return _notify(session, case_mediators(session, case), NotificationKind.task_returned, case, task, text)


def notify_overdue_tasks(session: Session) -> int:
    """Tell the people of every task that has just become overdue (once per task)."""
    now = clock.now()
    tasks = list(session.scalars(select(HumanTask).where(
        HumanTask.status == TaskStatus.open, HumanTask.due_at < now, HumanTask.overdue_notified_at.is_(None))
        .limit(500)))
    for task in tasks:
        _notify(session, users_for_task(session, task), NotificationKind.task_overdue, task.case, task,
                f"已超期：{task.case.case_no}「{task.case.title}」— {task.title}")
        task.overdue_notified_at = now
    return len(tasks)


def unread_count(session: Session, user: User) -> int:
    from sqlalchemy import func

    return session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


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
