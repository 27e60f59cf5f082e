"""The citizen's tracking page (no login): case number + the last 4 digits of the phone → progress.

It shows only what the citizen needs: the title they reported, the stage in plain words, the
deadlines, the reply once the process recorded one (`reply_text` of the approved draft, or
`settle_result` of an on-the-spot settlement) and the callback questions at the callback stage.
No staff names, no other parties, no description. A wrong number and wrong digits get the same
answer. Failed look-ups are counted per client IP in this process (`AttemptLimiter`): after
`MAX_FAILURES` within `WINDOW` the IP is refused (429) until the oldest failure ages out. Each
server process counts on its own, and behind a proxy the app must see the client address
(werkzeug's ProxyFix) for the count to be per citizen.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cases import queries
from app.cases.models import CaseStatus, MediationCase
from app.web import bp, page_session
from app.web.cases import code_label

#: failed look-ups an IP may make within WINDOW seconds
MAX_FAILURES = 10
WINDOW = 15 * 60.0
#: stages after which the reply has been given to the citizen
REPLIED_STAGES = frozenset({"callback", "closed"})


class AttemptLimiter:
    """Failed attempts per key (client IP) in a sliding time window, in this process's memory."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._failures.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key, time.monotonic())) >= self.limit

    def fail(self, key: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(key, now).append(now)
            if len(self._failures) > 10_000:  # forget idle keys so the table cannot grow without end
                for idle in [k for k, v in self._failures.items() if not v or v[-1] <= now - self.window]:
                    del self._failures[idle]


def limiter() -> AttemptLimiter:
    """The app's limiter (one per app, so tests do not share counts)."""
    return current_app.extensions.setdefault("onestop.track_limiter", AttemptLimiter())


@dataclass
class Progress:
    """What the citizen may see of a case."""

    case_no: str
    title: str
    created_at: datetime
    closed: bool
    stage_text: str
    deadlines: list[tuple[str, datetime, bool]] = field(default_factory=list)
    reply: str = ""
    callback: bool = False


def citizen_stage(case: MediationCase, outcome: Any) -> str:
    """The stage in words a citizen understands."""
    level = code_label("level", case.level)
    if case.status == CaseStatus.closed or case.stage == "closed":
        if outcome == "settled_on_spot":
            return _("已当场化解，事项已办结。")
        if outcome == "resolved_locally":
            return _("已由%(level)s社会治理中心调解化解，事项已办结。", level=level)
        return _("事项已办结。")
    texts = {
        "intake": _("已登记，正在受理。"),
        "accept": _("已登记，正在受理。"),
        "settle": _("正在当场处理。"),
        "local": _("正在由%(level)s社会治理中心调解。", level=level),
        "triage": _("已报县社会治理中心，正在研究处理方式。"),
        "convene": _("正在组织相关部门联合办理。"),
        "mediate": _("正在组织联合调解。"),
        "reply": _("正在准备给您的答复。"),
        "callback": _("已答复，工作人员将回访您。"),
    }
    return texts.get(case.stage, _("正在办理。"))


def citizen_deadlines() -> dict[str, str]:
    return {"accept": _("受理期限"), "convene": _("召集研究期限"), "reply": _("答复期限"), "callback": _("回访期限")}


def progress(session: Session, case: MediationCase) -> Progress:
    """The citizen's view of a case, built from its columns and its process variables."""
    variables = queries.variables(session, case)
    outcome = variables.get("outcome")
    names = citizen_deadlines()
    view = Progress(case_no=case.case_no, title=case.title, created_at=case.created_at,
                    closed=case.status == CaseStatus.closed, stage_text=citizen_stage(case, outcome),
                    deadlines=[(names[d.key], d.due, d.running) for d in queries.deadlines(case)],
                    callback=case.status == CaseStatus.open and case.stage == "callback")
    if outcome == "settled_on_spot" and isinstance(variables.get("settle_result"), str):
        view.reply = variables["settle_result"]
    elif case.stage in REPLIED_STAGES and variables.get("replied_at") and isinstance(variables.get("reply_text"), str):
        view.reply = variables["reply_text"]
    return view


def phone_matches(phone: str, digits: str) -> bool:
    """True when the phone number ends with the 4 digits (compared in constant time)."""
    own = re.sub(r"\D", "", phone or "")[-4:]
    return len(own) == 4 and hmac.compare_digest(own.encode(), digits.encode())


@bp.route("/track", methods=["GET", "POST"])
def track() -> Any:
    """Look up a case's progress by its number and the last 4 digits of the citizen's phone."""
    case_no = (request.values.get("case_no") or "").strip().upper()[:32]
    if request.method == "GET":
        with page_session():
            return render_template("web/track.html", case_no=case_no, result=None, error=None)
    digits = (request.form.get("digits") or "").strip()
    client = request.remote_addr or "unknown"
    gate = limiter()
    with page_session() as s:
        if gate.blocked(client):
            return render_template("web/track.html", case_no=case_no, result=None,
                                   error=_("查询次数过多，请稍后再试。")), 429
        case = s.scalar(select(MediationCase).where(MediationCase.case_no == case_no)) if case_no else None
        if case is None or not re.fullmatch(r"\d{4}", digits) or not phone_matches(case.citizen_phone, digits):
            gate.fail(client)
            return render_template("web/track.html", case_no=case_no, result=None,
                                   error=_("没有查到该事项，请核对编号和手机号后四位。"))
        return render_template("web/track.html", case_no=case_no, result=progress(s, case), error=None)
