"""The live process monitor page (流程监控): a process version's diagram with the cases waiting at each
step, step durations and overdue counts as overlays, the cases of a step on click, and the open
incidents with a retry button (htmx). Numbers come from `app.reports.monitor`, the same as the API's.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from app.cases.service import can_see_case, get_case, retry_case
from app.errors import BadRequest, DomainError, NotFound
from app.org.models import Role
from app.reports import monitor
from app.web import bp, login_required, page_session

#: who may open the monitor (admins always may)
MONITOR_ROLES = (Role.leader, Role.designer, Role.admin)
#: who may retry a failed case from the monitor
RETRY_ROLES = (Role.leader, Role.mediator, Role.admin)


def _allowed() -> None:
    if not g.user.has_role(*MONITOR_ROLES):
        abort(403)


def duration(seconds: int | None) -> str:
    """A step duration as people read it, the two largest units: "2天3小时", "3小时30分钟", "45分钟"."""
    if seconds is None:
        return ""
    english = str(get_locale() or "zh").startswith("en")
    minutes = int(seconds) // 60
    if minutes < 1:
        return "<1min" if english else "不到1分钟"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    units = [(days, "天", "d"), (hours, "小时", "h"), (mins, "分钟", "min")]
    first = next(i for i, (n, _zh, _en) in enumerate(units) if n)
    parts = [(n, zh, en) for n, zh, en in units[first:first + 2] if n]
    if english:
        return " ".join(f"{n}{en}" for n, _zh, en in parts)
    return "".join(f"{n}{zh}" for n, zh, _en in parts)


def _kind_label(kind: str) -> str:
    return {"userTask": _("人工环节"), "callActivity": _("调用子流程"), "subProcess": _("子流程"),
            "manualTask": _("人工环节"), "receiveTask": _("等待消息")}.get(kind, _("环节"))


@bp.get("/reports/monitor", endpoint="monitor")
@login_required
def monitor_page() -> Any:
    """The monitor of one process version (the mediation flow's newest by default)."""
    with page_session() as s:
        _allowed()
        processes = monitor.monitored_processes(s)
        if not processes:
            return render_template("web/monitor.html", view=None, processes=[], days=monitor.DEFAULT_WINDOW_DAYS)
        process_id = request.args.get("process") or processes[0].process_id
        try:
            view = monitor.build_monitor(s, g.user, process_id, request.args.get("version"), request.args.get("days"))
        except NotFound:
            abort(404)
        except BadRequest as exc:
            return render_template("web/monitor.html", view=None, processes=processes, errors=exc.fields,
                                   days=request.args.get("days", "")), 400
        return render_template("web/monitor.html", view=view, processes=processes, days=view.window_days,
                               duration=duration, kind_label=_kind_label, errors={},
                               can_retry=g.user.has_role(*RETRY_ROLES))


@bp.get("/reports/monitor/<process_id>/<int:version>/diagram.bpmn")
@login_required
def monitor_diagram(process_id: str, version: int) -> Any:
    """The BPMN file of a process version."""
    with page_session() as s:
        _allowed()
        try:
            pv = monitor.pick_version(s, process_id, version)
        except NotFound:
            abort(404)
        xml = monitor.process_xml(s, pv)
    return Response(xml, mimetype="application/xml", headers={"Cache-Control": "private, max-age=3600"})


@bp.get("/reports/monitor/<process_id>/<int:version>/stats.json")
@login_required
def monitor_stats(process_id: str, version: int) -> Any:
    """The monitor's numbers for the diagram overlays (the API's JSON plus readable durations)."""
    with page_session() as s:
        _allowed()
        try:
            view = monitor.build_monitor(s, g.user, process_id, version, request.args.get("days"))
        except NotFound:
            abort(404)
        except BadRequest as exc:
            return jsonify({"error": "bad_request", "message": exc.message, "fields": exc.fields}), 400
        body = view.as_json()
        for step in view.steps:
            st = step.stats
            body["steps"][step.id]["text"] = {
                "done_median": duration(st.done_median), "done_p90": duration(st.done_p90),
                "waiting_median": duration(st.waiting_median), "waiting_p90": duration(st.waiting_p90)}
            body["steps"][step.id]["url"] = url_for("web.monitor_step", process_id=process_id, version=version,
                                                    element_id=step.id)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/reports/monitor/<process_id>/<int:version>/steps/<element_id>")
@login_required
def monitor_step(process_id: str, version: int, element_id: str) -> Any:
    """The open cases waiting at one step (a fragment for htmx, a page otherwise)."""
    with page_session() as s:
        _allowed()
        try:
            pv = monitor.pick_version(s, process_id, version)
            cases = monitor.waiting_cases(s, g.user, process_id, version, element_id)
        except NotFound:
            abort(404)
        model = monitor.process_model(s, pv.artifact_id, pv.process_id)
        step = model.nodes[element_id]
        partial = bool(request.headers.get("HX-Request")) and not request.headers.get("HX-Boosted")
        template = "web/monitor_step.html" if partial else "web/monitor_step_page.html"
        return render_template(template, pv=pv, step=step, cases=cases)


@bp.post("/reports/monitor/retry/<case_no>")
@login_required
def monitor_retry(case_no: str) -> Any:
    """Retry a failed case from the monitor's incident list (htmx swaps the row; else back to the page)."""
    htmx = bool(request.headers.get("HX-Request"))
    ok = False
    try:
        with page_session(write=True) as s:
            if not g.user.has_role(*RETRY_ROLES):
                abort(403)
            try:
                case = get_case(s, case_no)
            except NotFound:
                abort(404)
            if not can_see_case(s, g.user, case):
                abort(404)
            retried = retry_case(s, g.user, case_no)
            ok = not retried.has_incident
            message = _("已重试，流程继续运行。") if ok else _("重试后仍有异常，请联系流程管理员。")
    except DomainError as exc:
        message = _("重试失败：%(m)s", m=exc.message)
    if htmx:
        return render_template("web/monitor_retry.html", case_no=case_no, ok=ok, message=message)
    flash(message)
    back = request.form.get("next") or ""
    if not back.startswith("/reports/monitor"):
        back = url_for("web.monitor")
    return redirect(back)
