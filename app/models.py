"""Import every domain's models so the metadata (and Alembic) sees all tables."""

from app.attachments.models import Attachment
from app.audit.models import AuditEntry
from app.calendar.models import CalendarDay
from app.cases.models import CaseCounter, CaseEvent, CaseState, Incident, MediationCase
from app.notify.models import Notification, OutboxMessage
from app.open311.models import ApiKey
from app.org.models import Department, OrgUnit, User
from app.processes.models import Artifact, DecisionVersion, Deployment, FormVersion, ProcessVersion, RuntimeSpec
from app.reports.models import ReportSetting
from app.scheduler.models import PendingTimer, SharedClock
from app.studio.models import Draft
from app.tasks.models import HumanTask

__all__ = [
    "ApiKey",
    "Artifact",
    "Attachment",
    "AuditEntry",
    "CalendarDay",
    "CaseCounter",
    "CaseEvent",
    "CaseState",
    "DecisionVersion",
    "Department",
    "Deployment",
    "Draft",
    "FormVersion",
    "HumanTask",
    "Incident",
    "MediationCase",
    "Notification",
    "OrgUnit",
    "OutboxMessage",
    "PendingTimer",
    "ProcessVersion",
    "ReportSetting",
    "RuntimeSpec",
    "SharedClock",
    "User",
]
