"""The browser UI: server-rendered Jinja pages with htmx, Simplified Chinese first, English second.

Every page view opens one unit of work through `page_session()`; the logged-in user comes from
the session cookie (`current_user()`), forms are CSRF-protected (Flask-WTF), and front-end
libraries are served straight from `node_modules` (`/vendor/...`), never copied into the repo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, g, redirect, request, send_from_directory, session, url_for
from flask_babel import Babel, format_datetime, get_locale
from sqlalchemy.orm import Session

from app import clock
from app.config import PROJECT_ROOT
from app.org.models import User
from app.org.service import load_user
from app.timeutil import LOCAL_TZ

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/app")

F = TypeVar("F", bound=Callable[..., Any])

LOCALES = ("zh", "en")

#: the only folders of node_modules the browser may load
VENDOR_ALLOW = ("htmx.org/dist/", "bpmn-js/dist/", "dmn-js/dist/", "chart.js/dist/")


def select_locale() -> str:
    """Chinese unless the person chose English (cookie), or their account says so."""
    chosen = request.cookies.get("lang")
    if chosen in LOCALES:
        return chosen
    user = g.get("user")
    if user is not None and user.locale in LOCALES:
        return user.locale
    return "zh"


def init_app(app: Any) -> None:
    """Wire Babel, CSRF and the blueprints of the UI into the app."""
    from flask_wtf.csrf import CSRFProtect

    from app.web import i18n

    i18n.compile_catalogs()
    Babel(app, locale_selector=select_locale, default_timezone="Asia/Shanghai",
          default_translation_directories=str(i18n.TRANSLATIONS))
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    csrf = CSRFProtect(app)
    from app.api import bp as api_bp

    csrf.exempt(api_bp)
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["time_left"] = time_left
    app.jinja_env.globals["now"] = clock.now
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["current_app"] = current_app
    from app.web.notifications import BELL

    app.jinja_env.globals["bell_icon"] = BELL
    from app.web import (  # noqa: F401  # noqa: F401  # noqa: F401  # noqa: F401
        attachments,
        audit,
        cases,
        dashboard,
        decisions,  # noqa: F401  (decision tables: list and table editor)
        forms_editor,
        history,
        hotspots,
        inbox,
        intake,
        ledger,
        migrate,  # noqa: F401  (moving running cases between process versions)
        monitor,
        notifications,
        ranking,
        reports_home,
        studio,
        tasks,
        track,
        views,
    )

    app.register_blueprint(bp)


def database() -> Any:
    return current_app.extensions["onestop.db"]


@contextmanager
def page_session(*, write: bool = False) -> Iterator[Session]:
    """The page's one transaction, with `g.user` re-read in it. The UI language is settled while the
    user is readable: after a rollback (a refused change) the user's object is expired, and a message
    worded then must not need it."""
    with database().unit_of_work(write=write) as s:
        g.user = load_session_user(s)
        get_locale()
        yield s


def load_session_user(s: Session) -> User | None:
    uid = session.get("uid")
    if uid is None:
        return None
    user = load_user(s, uid) if isinstance(uid, int) else None
    if user is None or not user.active or user.password_hash[-12:] != session.get("pw"):
        session.clear()
        return None
    return user


def login_required(view: F) -> F:
    """Send people who are not logged in to the login page, then back."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with database().unit_of_work(write=False) as s:
            if load_session_user(s) is None:
                return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@bp.get("/vendor/<path:filename>")
def vendor(filename: str) -> Any:
    """Serve a front-end library file from node_modules (only the allowed dist folders)."""
    if not filename.startswith(VENDOR_ALLOW) or ".." in filename:
        abort(404)
    response = send_from_directory(PROJECT_ROOT / "node_modules", filename, max_age=7 * 24 * 3600)
    return response


def localtime(moment: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """A time in the center's zone, e.g. 2026-11-23 17:05."""
    if moment is None:
        return ""
    return format_datetime(moment.astimezone(LOCAL_TZ), fmt)


def time_left(due: datetime | None) -> dict[str, Any]:
    """What an inbox row says about a due time: "2天3小时" left or "已超期1天" in red."""
    from app.web.i18n import duration_text

    if due is None:
        return {"text": "", "overdue": False}
    delta = due - clock.now()
    overdue = delta.total_seconds() < 0
    return {"text": duration_text(abs(delta), overdue=overdue), "overdue": overdue}
