"""Moving running cases to a new process version in a real browser: check, confirm, move; the case page.

This module runs its own live server (the demo world without cases, plus the `relay` test bundle), so
the cases it files and moves never change what the other browser tests count.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FormData, expect
from werkzeug.serving import make_server

from tests.browser.conftest import _free_port, login

BUNDLES = Path(__file__).resolve().parents[1] / "studio" / "bundles"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A OneStop of its own: the demo users and shipped processes, no demo cases."""
    from sqlalchemy import create_engine

    import app.models  # noqa: F401
    from app import create_app
    from app.config import Config
    from app.db import Base
    from app.seed import seed_demo

    url = f"sqlite:///{tmp_path_factory.mktemp('migrate') / 'live.db'}"
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    cfg = Config(database_url=url, testing=True, secret_key="browser-migrate", auto_deploy=True,
                 scheduler_in_process=False)
    seed_demo(cfg, cases=0)
    flask_app = create_app(cfg)
    server = make_server("127.0.0.1", _free_port(), flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        flask_app.extensions["onestop.db"].dispose()


class Api:
    def __init__(self, page: Any) -> None:
        self.request = page.request
        self.tokens: dict[str, str] = {}

    def headers(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            r = self.request.post("/api/v1/auth/login", data={"username": user, "password": "onestop-demo"})
            assert r.status == 200, r.text()
            self.tokens[user] = r.json()["token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def deploy(self, files: dict[str, str]) -> None:
        form = FormData()  # one `files` part per file
        for name, text in files.items():
            form.append("files", {"name": name, "mimeType": "application/octet-stream", "buffer": text.encode()})
        r = self.request.post("/api/v1/processes", headers=self.headers("designer"), multipart=form)
        assert r.status == 201, r.text()

    def intake(self) -> str:
        r = self.request.post("/api/v1/cases", headers=self.headers("receiver"), data={
            "title": "邻里漏水纠纷", "description": "楼上漏水，协商未果", "channel": "walk_in", "process_id": "relay",
            "citizen": {"name": "王芳", "phone": "13800001111"}, "location": {"org_unit": "liushu"}})
        assert r.status == 201, r.text()
        return r.json()["case_no"]

    def complete(self, user: str, case_no: str, name: str, data: dict[str, Any]) -> None:
        items = self.request.get(f"/api/v1/tasks?scope=all&case_no={case_no}", headers=self.headers("admin")).json()
        [task] = [t for t in items["items"] if t["name"] == name]
        r = self.request.post(f"/api/v1/tasks/{task['id']}/complete", headers=self.headers(user), data={"data": data})
        assert r.status == 200, r.text()

    def version(self, case_no: str) -> int:
        r = self.request.get(f"/api/v1/cases/{case_no}", headers=self.headers("admin"))
        return int(r.json()["process"]["version"])


def test_designer_checks_confirms_and_moves_running_cases(desktop, phone, shot):
    api = Api(desktop)
    api.deploy({"relay.bpmn": (BUNDLES / "relay_v1.bpmn").read_text(),
                "relay_accept.json": (BUNDLES / "relay_accept.json").read_text(),
                "relay_review.json": (BUNDLES / "relay_review.json").read_text()})
    movable = api.intake()
    blocked = api.intake()
    api.complete("receiver", blocked, "accept", {"fast": True})
    api.deploy({"relay.bpmn": (BUNDLES / "relay_v2.bpmn").read_text(),
                "relay_review.json": (BUNDLES / "relay_review_v2.json").read_text()})

    login(desktop, "designer")
    desktop.goto("/studio/migrate/relay")
    expect(desktop.locator("h1")).to_contain_text("迁移办理中的事项")
    desktop.select_option("select[name=from]", "1")
    desktop.select_option("select[name=to]", "2")
    desktop.click("button:has-text('检查能否迁移')")
    rows = desktop.locator("table.mg-cases tbody tr")
    expect(rows).to_have_count(2)
    expect(desktop.locator("tr.mg-ok")).to_contain_text(movable)
    expect(desktop.locator("tr.mg-no")).to_contain_text(blocked)
    expect(desktop.locator("tr.mg-no .mg-reasons")).to_contain_text("第 2 版删除了环节「快速办理（fast）」")
    shot(desktop, "studio-migrate")

    # the move needs the confirmation box: the browser refuses to submit without it
    move = desktop.locator("button:has-text('迁移 1 件事项')")
    move.click()
    assert api.version(movable) == 1
    desktop.check("input[name=confirm]")
    move.click()
    expect(desktop.locator(".flash")).to_contain_text(f"已把 1 件事项从第 1 版迁移到第 2 版：{movable}")
    assert (api.version(movable), api.version(blocked)) == (2, 1)

    desktop.goto(f"/cases/{movable}")
    expect(desktop.locator("ol.timeline li.k-migrated")).to_contain_text("版本迁移")
    expect(desktop.locator("ol.timeline li.k-migrated")).to_contain_text("v1 → v2")

    login(phone, "designer")
    phone.goto(f"/cases/{blocked}")
    card = phone.locator("section.mg-case-action")
    expect(card).to_contain_text("本事项按第 1 版办理，最新是第 2 版。")
    card.locator("summary").click()
    card.locator("button:has-text('确认迁移到第 2 版')").click()
    expect(phone.locator(".flash")).to_contain_text(f"事项 {blocked} 不能迁移到第 2 版")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.goto("/studio/migrate/relay?from=1&to=2")
    expect(phone.locator("table.mg-cases tbody tr")).to_have_count(1)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    shot(phone, "studio-migrate-phone")
