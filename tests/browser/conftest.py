"""Browser tests: a live OneStop on a free port (SQLite, demo world) driven by Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ONESTOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
#: `make screenshots` refreshes docs/screenshots/; otherwise shots go to a temp folder
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("ONESTOP_SCREENSHOTS") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _buffered(wsgi_app: Any) -> Any:
    """The app with each answer read whole and its iterator closed before the server sends it. When the
    browser drops a connection (a page closed while its icon still loads), Werkzeug's development server
    can fail in its clean-up before it closes the answer's iterator, and a static file's handle is left
    to the garbage collector: a ResourceWarning, which this suite makes an error, in whatever test runs
    then. Production serves with gunicorn."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        answer = wsgi_app(environ, start_response)
        try:
            return list(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()

    return app


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """OneStop with the demo world and the shipped processes, served on 127.0.0.1."""
    from sqlalchemy import create_engine

    import app.models  # noqa: F401
    from app import create_app
    from app.config import Config
    from app.db import Base
    from app.seed import seed_demo

    db_path = tmp_path_factory.mktemp("live") / "live.db"
    url = f"sqlite:///{db_path}"
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    cfg = Config(database_url=url, testing=True, secret_key="browser-tests", auto_deploy=True,
                 scheduler_in_process=False)
    seed_demo(cfg, cases=12)
    flask_app = create_app(cfg)
    port = _free_port()
    server = make_server("127.0.0.1", port, _buffered(flask_app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        flask_app.extensions["onestop.db"].dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required under CI=true (make test installs Debian's chromium)")
        pytest.skip("no Chromium at /usr/bin/chromium: run `make test`, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def phone(browser: object, live_server: str) -> Iterator[object]:
    """A page in a 360 × 740 phone-sized viewport."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2,  # type: ignore
                                  locale="zh-CN", base_url=live_server, is_mobile=True, has_touch=True)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def desktop(browser: object, live_server: str) -> Iterator[object]:
    """A page in a 1366 × 768 office-PC viewport."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN",  # type: ignore
                                  base_url=live_server)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def shot(tmp_path: Path):
    """Save a full-page screenshot by name (docs/screenshots/ under `make screenshots`)."""

    def take(page: object, name: str) -> Path:
        folder = SHOTS or tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.png"
        page.screenshot(path=str(target), full_page=True)  # type: ignore[attr-defined]
        return target

    return take


def login(page: object, username: str, password: str = "onestop-demo") -> None:
    """Log in through the login form."""
    page.goto("/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
