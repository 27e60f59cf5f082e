"""In-app notifications (the bell) and the outbox of messages to send through other channels."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow_column_default


class NotificationKind(enum.StrEnum):
    task_new = "task_new"
    task_returned = "task_returned"
    task_overdue = "task_overdue"


class Notification(Base):
    __tablename__ = "notification"
    # (user, created_at): the bell's list, newest first, without sorting all of a busy person's notifications
    __table_args__ = (Index("ix_notification_user_unread", "user_id", "read_at"),
                      Index("ix_notification_user_created", "user_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[NotificationKind] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("mediation_case.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"))
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    read_at: Mapped[datetime | None]


class OutboxStatus(enum.StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"


class OutboxMessage(Base):
    """A message to deliver through a channel (SMS, webhook), written in the same transaction as the
    fact it announces and sent after commit, with retries; never sent for a rolled-back change."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id"))
    status: Mapped[OutboxStatus] = mapped_column(String(16), default=OutboxStatus.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    sent_at: Mapped[datetime | None]

    #: set with the notification still unwritten: the flush writes it first (no flush per message)
    notification = relationship("Notification", lazy="raise")
