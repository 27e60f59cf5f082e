"""Registering a matter (受理登记) on a phone in under a minute, with possible duplicates shown first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import segno
from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy.orm import Session

from app.cases import queries
from app.cases.models import CaseStatus
from app.cases.service import Intake, add_event, create_case, parse_intake
from app.errors import InvalidInput
from app.org.models import OrgLevel, Role, User
from app.web import bp, login_required, page_session
from app.web.cases import category_labels, visible

#: who may register a matter (the API's POST /cases allows the same roles)
INTAKE_ROLES = (Role.receiver, Role.mediator, Role.leader)
#: channels a person picks on the intake page (open311 is for other systems)
FORM_CHANNELS = ("walk_in", "grid", "hotline", "online")
#: parse_intake's field paths -> the page's field names
FIELD_NAMES = {"citizen.name": "citizen_name", "citizen.phone": "citizen_phone", "location.org_unit": "org_unit",
               "location.address": "address", "citizen": "citizen_name", "location": "org_unit"}


@dataclass
class IntakeForm:
    """The intake page's fields, as typed (kept when the page comes back with errors)."""

    title: str = ""
    description: str = ""
    category: str = ""
    urgency: str = "normal"
    channel: str = "walk_in"
    citizen_name: str = ""
    citizen_phone: str = ""
    org_unit: str = ""
    address: str = ""

    @classmethod
    def from_request(cls) -> IntakeForm:
        values = {name: (request.form.get(name) or "").strip() for name in cls.__dataclass_fields__}
        return cls(**values)

    def payload(self) -> dict[str, Any]:
        """The body `parse_intake` takes (the API's shape)."""
        return {"title": self.title, "description": self.description, "category": self.category or None,
                "urgency": self.urgency or "normal", "channel": self.channel,
                "citizen": {"name": self.citizen_name, "phone": self.citizen_phone},
                "location": {"org_unit": self.org_unit, "address": self.address}}


def default_form(user: User) -> IntakeForm:
    """A village receiver is a grid worker (channel grid); windows and the center get walk-ins."""
    grid = user.has_role(Role.receiver) and user.org_unit.level == OrgLevel.village
    return IntakeForm(channel="grid" if grid else "walk_in", org_unit=user.org_unit.code)


def _message(raw: str) -> str:
    """parse_intake's English message for a field, in the page's language."""
    if raw.startswith("at most"):
        found = re.search(r"\d+", raw)
        return _("最多 %(n)s 个字", n=found.group(0) if found else "")
    if "phone" in raw:
        return _("请填写正确的电话号码")
    return _("必填")


def validate(session: Session, user: User, form: IntakeForm) -> tuple[Intake | None, dict[str, str]]:
    """Check the form; return the parsed intake (None when invalid) and {field: message}."""
    errors: dict[str, str] = {}
    intake: Intake | None = None
    try:
        intake = parse_intake(form.payload())
    except InvalidInput as exc:
        for key, raw in exc.fields.items():
            errors.setdefault(FIELD_NAMES.get(key, key), _message(raw))
    if form.category not in category_labels(session):
        errors["category"] = _("请选择事项类别")
    if form.channel not in FORM_CHANNELS:
        errors["channel"] = _("请选择渠道")
    if form.urgency not in ("normal", "urgent"):
        errors["urgency"] = _("请选择紧急程度")
    if form.org_unit not in {u.code for u in queries.places_for(session, user)}:
        errors["org_unit"] = _("请选择您可登记的地点")
    return (None if errors else intake), errors


def _page(session: Session, form: IntakeForm, *, errors: dict[str, str] | None = None,
          duplicates: list[Any] | None = None, confirm: bool = False, status: int = 200) -> Any:
    return render_template("web/intake.html", form=form, errors=errors or {}, duplicates=duplicates or [],
                           confirm=confirm, categories=category_labels(session), channels=FORM_CHANNELS,
                           places=queries.places_for(session, g.user)), status


def _require_intake_role() -> None:
    if not g.user.has_role(*INTAKE_ROLES):
        abort(403)


@bp.route("/intake", methods=["GET", "POST"])
@login_required
def intake() -> Any:
    """The intake form; on submit: check, show possible duplicates once, then register."""
    if request.method == "GET":
        with page_session() as s:
            _require_intake_role()
            return _page(s, default_form(g.user))
    form = IntakeForm.from_request()
    link_to = request.form.get("link", "")
    with page_session(write=bool(link_to)) as s:
        _require_intake_role()
        parsed, errors = validate(s, g.user, form)
        if errors or parsed is None:
            return _page(s, form, errors=errors, status=422)
        if link_to:
            return _link(s, form, link_to)
        duplicates = queries.possible_duplicates(s, g.user, org_unit=form.org_unit, category=form.category,
                                                 phone=form.citizen_phone)
        if duplicates and request.form.get("confirm") != "1":
            return _page(s, form, duplicates=duplicates, confirm=True)
    try:
        with page_session(write=True) as s:
            case = create_case(s, g.user, parsed, prefix=current_app.config["ONESTOP"].case_prefix)
            case_no = case.case_no
    except InvalidInput as exc:
        with page_session() as s:
            errors = {FIELD_NAMES.get(k, k): _("请选择您可登记的地点") if "org_unit" in k else _message(v)
                      for k, v in exc.fields.items()}
            return _page(s, form, errors=errors, status=422)
    return redirect(url_for("web.intake_done", case_no=case_no))


def _link(session: Session, form: IntakeForm, case_no: str) -> Any:
    """Record the new report on an open case it repeats, instead of registering a second case."""
    case = visible(session, case_no)
    if case.status != CaseStatus.open:
        abort(409)
    add_event(session, case, "repeat_report", actor=g.user, message=form.title,
              data={"channel": form.channel, "description": form.description,
                    "citizen": {"name": form.citizen_name, "phone": form.citizen_phone}})
    flash(_("已记入已有事项 %(no)s，没有重复登记。", no=case.case_no))
    return redirect(url_for("web.case", case_no=case.case_no))


@bp.get("/intake/duplicates")
@login_required
def intake_duplicates() -> Any:
    """htmx: possible duplicates for the place, category and phone typed so far."""
    args = request.args
    with page_session() as s:
        duplicates = queries.possible_duplicates(s, g.user, org_unit=args.get("org_unit", ""),
                                                 category=args.get("category", ""),
                                                 phone=args.get("citizen_phone", ""))
        return render_template("web/intake_duplicates.html", duplicates=duplicates, confirm=False,
                               categories=category_labels(s))


def tracking_qr(url: str) -> Markup:
    """An inline SVG QR code of a URL (no image files)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, border=2)
    return Markup(svg)  # segno's SVG holds only the path of the code, never the text


@bp.get("/intake/done/<case_no>")
@login_required
def intake_done(case_no: str) -> Any:
    """The registered case's number, big, with a QR code of the citizen's tracking page."""
    with page_session() as s:
        case = visible(s, case_no)
        track_url = url_for("web.track", case_no=case.case_no, _external=True)
        return render_template("web/intake_done.html", case=case, track_url=track_url,
                               qr=tracking_qr(track_url), categories=category_labels(s))

