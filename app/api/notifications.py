"""The user's notifications (the bell) for app clients."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy.orm import Session

from app.api import bp, json_body, with_user
from app.errors import InvalidInput
from app.notify.service import list_notifications, mark_read, unread_count
from app.org.models import User
from app.timeutil import local_iso


@bp.get("/notifications")
@with_user(write=False)
def get_notifications(session: Session, user: User) -> Any:
    items = list_notifications(session, user)
    return jsonify({"unread": unread_count(session, user), "items": [
        {"id": n.id, "kind": str(n.kind), "text": n.text, "task_id": n.task_id, "created_at": local_iso(n.created_at),
         "read": n.read_at is not None} for n in items]})


@bp.post("/notifications/read")
@with_user()
def post_notifications_read(session: Session, user: User) -> Any:
    """Mark `{"ids": [...]}` (or everything, without ids) as read."""
    ids = json_body().get("ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        raise InvalidInput("ids must be a list of numbers", fields={"ids": "a list of notification ids"})
    mark_read(session, user, ids)
    return jsonify({"unread": unread_count(session, user)})
