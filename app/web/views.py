"""Log in and out, the language switch, and the home page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app, flash, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from app import clock
from app.org.models import User
from app.org.service import authenticate
from app.web import LOCALES, bp, login_required, page_session

#: failed logins in a row before the account is locked, and for how long
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


def _safe_next(target: str | None) -> str:
    """Only follow a local path after login (never another site)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("web.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    username = ""
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        with page_session(write=True) as s:
            user = s.scalar(select(User).where(User.username == username)) if username else None
            now = clock.now()
            if user is not None and user.locked_until is not None and user.locked_until > now:
                minutes = int((user.locked_until - now).total_seconds() // 60) + 1
                error = _("登录失败次数过多，账号已锁定，请 %(m)s 分钟后再试。", m=minutes)
            elif (found := authenticate(s, username, password)) is None:
                error = _("用户名或密码错误。")
                if user is not None:
                    user.failed_logins += 1
                    if user.failed_logins >= MAX_FAILED_LOGINS:
                        user.locked_until = now + LOCKOUT
                        user.failed_logins = 0
                        error = _("登录失败次数过多，账号已锁定 %(m)s 分钟。", m=int(LOCKOUT.total_seconds() // 60))
            else:
                found.failed_logins = 0
                found.locked_until = None
                session.clear()
                session["uid"] = found.id
                session["pw"] = found.password_hash[-12:]
                session.permanent = True
                return redirect(_safe_next(request.args.get("next")))
    response = make_response(render_template("web/login.html", error=error, username=username),
                             401 if error else 200)
    return response


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    flash(_("已退出登录。"))
    return redirect(url_for("web.login"))


@bp.get("/lang/<code>")
def set_language(code: str) -> Any:
    """Switch the UI language and go back where the person was."""
    response = redirect(_safe_next(request.args.get("next") or request.referrer and
                                   request.referrer.split(request.host, 1)[-1]))
    if code in LOCALES:
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax")
    return response


@bp.get("/")
@login_required
def home() -> Any:
    """Start where the person's work is: leaders at their dashboard, receivers at the intake page,
    everyone else at the inbox."""
    with page_session():
        receiver_only = g.user.has_role("receiver") and not g.user.has_role("mediator", "leader", "admin")
        leader = g.user.has_role("leader") and "web.dashboard" in current_app.view_functions
    if leader:
        return redirect(url_for("web.dashboard"))
    return redirect(url_for("web.intake" if receiver_only else "web.inbox"))
