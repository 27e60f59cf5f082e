"""Case and task rows for bulk inserts in the report tests: every column the tables need, with plain
defaults a test overrides where it matters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def case_row(case_id: int, created: datetime, *, spec_id: int, org_unit_id: int, **fields: Any) -> dict[str, Any]:
    row = {"id": case_id, "case_no": f"QX-2026-{case_id:06d}", "title": f"事项{case_id}", "description": "",
           "category": "labour", "urgency": "normal", "channel": "walk_in", "citizen_name": "张三",
           "citizen_phone": "13800000000", "org_unit_id": org_unit_id, "address": "", "status": "open",
           "stage": "convene", "level": "county", "lead_department": None, "departments": [],
           "deadline_accept": created + timedelta(days=1), "deadline_convene": created + timedelta(days=3),
           "deadline_reply": created + timedelta(days=9), "deadline_callback": None, "process_id": "mediation",
           "process_version": 1, "runtime_spec_id": spec_id, "has_incident": False, "created_at": created,
           "closed_at": None, "updated_at": created, "lock_version": 1}
    row.update(fields)
    return row


def task_row(case_id: int, n: int, *, org_unit_id: int, created: datetime, status: str = "open",
             role: str = "mediator", due: datetime | None = None, done: datetime | None = None, by: int | None = None,
             assignee: int | None = None, department: int | None = None, form: str | None = "note.json",
             data: Any = None) -> dict[str, Any]:
    return {"case_id": case_id, "engine_task_id": f"{case_id}-{n}", "name": f"t{n}", "title": "", "lane": role,
            "role": role, "department_id": department, "org_unit_id": org_unit_id, "assignee_id": assignee,
            "form": form, "ui_form": None, "due_at": due, "status": status, "created_at": created,
            "completed_at": done, "completed_by_id": by, "data": data}
