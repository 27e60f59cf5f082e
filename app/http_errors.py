"""What every failed request gets back, by who asked: a page in the UI's language for a person in a
browser, JSON for the API and for the UI's own scripts, GeoReport errors for Open311 clients.

Flask hands an error to a blueprint's handler only when the request reached one of its routes; an
unknown address (`/api/v1/nothing`), a method the address does not take, or an error page of the UI
came out as Werkzeug's bare English HTML. These app-wide handlers catch what the blueprints do not.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
OPEN311_PREFIX = "/open311/"


def register(app: Flask) -> None:
    """Answer every HTTP error (a 500 included) no blueprint answered."""
    app.register_error_handler(HTTPException, _answer)


def _answer(exc: HTTPException) -> Any:
    path = request.path
    if path.startswith(API_PREFIX):
        from app.api import http_error

        return http_error(exc)
    if path.startswith(OPEN311_PREFIX):
        from app.open311.views import http_error as open311_error

        return open311_error(exc)
    status = exc.code or 500
    _find_user()  # the view's user, if any, went with its rolled-back session; the locale may need it
    title, message = _explain(exc, status)
    if _wants_json():
        # the UI's scripts (process modeler, decision editor) post JSON and show `message`
        from app.api import error_code, error_response

        return error_response(status, "csrf" if isinstance(exc, CSRFError) else error_code(status), message)
    try:
        return render_template("web/error.html", status=status, title=title, message=message), status
    except Exception:  # noqa: BLE001 - the page of an error must not fail in its turn
        log.exception("the error page for %s %s could not be shown", status, path)
        return f"{status} {title}: {message}", status, {"Content-Type": "text/plain; charset=utf-8"}


def _wants_json() -> bool:
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(("text/html", "application/json"))
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _find_user() -> None:
    """The person logged in, for the page's menu and language; none when the database cannot say (a
    500 may be the database's own failure)."""
    from app.web import database, load_session_user

    g.user = None
    try:
        with database().unit_of_work(write=False) as s:
            g.user = load_session_user(s)
    except Exception:  # noqa: BLE001
        log.warning("no user for the error page", exc_info=True)


def _explain(exc: HTTPException, status: int) -> tuple[str, str]:
    """The page's title and what the person can do about it."""
    if isinstance(exc, CSRFError):
        return _("页面已过期"), _("这个页面打开太久或您已在别处退出，提交没有生效。请刷新页面后重新提交。")
    if status == 403:
        return _("无权访问"), _("您的账号不能查看或办理这一项。如需办理，请联系管理员调整角色或所属单位。")
    if status == 404:
        return _("页面不存在"), _("找不到要打开的页面或事项：可能已经办结、转办，或地址有误。")
    if status == 405:
        return _("无法这样打开"), _("这个地址不能直接打开，请从菜单进入。")
    if status == 413:  # the limit of this request: a form with files has a larger one than the app's
        limit = (request.max_content_length or 0) // (1024 * 1024)
        return _("提交的内容过大"), _("一次提交不能超过 %(mb)s MB，请压缩附件或分几次上传。", mb=limit)
    if status >= 500:
        return _("系统出错了"), _(
            "处理时出错，已记录下来。请刷新页面看看刚才的操作是否已经生效，再决定是否重试；反复出现请联系管理员。")
    return _("请求有误"), _("提交的内容无法处理，请返回上一页检查后重试。")
