"""The studio's decision pages: list, editor (editable or read-only), try, lint, draft and publish."""

from __future__ import annotations

import json
import re
from typing import Any

from app.audit.service import list_entries
from app.studio import drafts
from tests.decisions.test_decisions_api import shipped, shipped_bundle  # noqa: F401  (fixture)
from tests.web.test_login import login


def state(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="dt-state">(.*?)</script>', html, re.S)
    assert found, html[:500]
    return json.loads(found.group(1))


def token(html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def open_editor(client: Any, user: str) -> tuple[str, dict[str, Any]]:
    login(client, user)
    r = client.get("/studio/decisions/deadline_rules")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    return html, state(html)


def post(client: Any, html: str, path: str, body: dict[str, Any]) -> Any:
    return client.post(f"/studio/decisions/deadline_rules/{path}", json=body, headers={"X-CSRFToken": token(html)})


def test_list_page(client, shipped):  # noqa: F811
    login(client, "leader")
    html = client.get("/studio/decisions").get_data(as_text=True)
    assert "决策表" in html
    for ident in ("classification", "deadline_rules", "supervision_rules"):
        assert f'href="/studio/decisions/{ident}"' in html
    assert "期限规则" in html and "第 1 版" in html


def test_editor_for_a_leader_and_read_only_for_a_mediator(client, shipped):  # noqa: F811
    html, st = open_editor(client, "leader")
    assert st["editable"] is True and st["version"] == 1 and st["draft"] is False
    assert st["table"]["rules"][0]["outputs"] == ['"hours"', "2", "24", "72", "24"]
    assert st["issues"] == []
    assert st["fields"] == [{"name": "deadline_class", "label": "期限类别", "type": "string", "simple": True,
                             "options": [{"value": "urgent", "title": "urgent"}, {"value": "normal", "title": "normal"},
                                         {"value": "complex", "title": "complex"}]}]
    assert 'id="dt-publish"' in html and "decision-editor.js" in html
    client.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)})

    html, st = open_editor(client, "mediator")
    assert st["editable"] is False
    assert 'id="dt-publish"' not in html and "只读" in html


def test_try_lint_draft_and_publish(client, shipped, database):  # noqa: F811
    html, st = open_editor(client, "leader")
    table = st["table"]
    table["rules"][0]["outputs"][1] = "4"
    r = post(client, html, "try", {"inputs": {"deadline_class": "urgent"}, "table": table})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["outputs"]["dl_accept"] == 4 and [m["number"] for m in r.get_json()["matched"]] == [1]

    broken = json.loads(json.dumps(table))
    broken["rules"][0]["inputs"][0] = "urgent"
    r = post(client, html, "lint", {"table": broken})
    [issue] = r.get_json()["issues"]
    assert (issue["level"], issue["field"]) == ("error", "table.rules[0].inputs[0]")
    assert issue["message_zh"].endswith('urgent 缺少引号，Python 会把它当作变量；请写成 "urgent"')

    r = post(client, html, "draft", {"table": table})
    assert r.status_code == 200 and r.get_json()["draft"] is True
    with database.unit_of_work() as s:
        draft = drafts.get_draft(s, "deadline_rules.dmn")
        assert draft is not None
        assert '<outputEntry id="deadline_rules_r1_o1">\n          <text>4</text>' in draft.content
    html, st = open_editor(client, "leader")
    assert st["draft"] is True and st["table"]["rules"][0]["outputs"][1] == "4"

    r = post(client, html, "publish", {"table": broken, "note": "x", "version": 1})
    assert r.status_code == 422 and list(r.get_json()["fields"]) == ["table.rules[0].inputs[0]"]
    r = post(client, html, "publish", {"table": table, "note": "紧急受理 4 小时", "version": 1})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["version"] == 2 and "第 2 版" in r.get_json()["message"]
    with database.unit_of_work() as s:
        assert drafts.get_draft(s, "deadline_rules.dmn") is None
        [(entry, user)] = [(e, u) for e, u in list_entries(s) if e.action == "decision_change"]
        assert (user.username, entry.summary) == ("leader", "deadline_rules v2")
        assert entry.detail["note"] == "紧急受理 4 小时"


def test_a_mediator_may_try_but_not_save(client, shipped):  # noqa: F811
    html, st = open_editor(client, "mediator")
    r = post(client, html, "try", {"inputs": {"deadline_class": "normal"}})
    assert r.status_code == 200 and r.get_json()["outputs"]["dl_reply"] == 7
    assert post(client, html, "draft", {"table": st["table"]}).status_code == 403
    assert post(client, html, "publish", {"table": st["table"], "version": 1}).status_code == 403
    r = client.post("/studio/decisions/deadline_rules/try", json={"inputs": {}})
    assert r.status_code == 400  # no CSRF token


def test_unknown_decision_is_404(client, shipped):  # noqa: F811
    login(client, "leader")
    assert client.get("/studio/decisions/nothing").status_code == 404
