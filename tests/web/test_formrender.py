"""The server-side form renderer: every shipped form renders and survives a browser round trip."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask, render_template
from werkzeug.datastructures import FileStorage, MultiDict

from app.bilingual import split_title
from app.forms.schema import Branch, branches
from app.tasks.service import validate_form_data
from app.web.formrender import (
    FileRejected,
    apply_action,
    build_form,
    friendly_errors,
    initial_values,
    read_form,
    widget_of,
)

ROOT = Path(__file__).resolve().parents[2]
FORMS = sorted(p for p in (ROOT / "forms").glob("*.json") if not p.name.endswith(".ui.json"))
DEPARTMENTS = [("hrss", "人社局"), ("justice", "司法局"), ("housing", "住建局")]


def load(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    ui_path = path.with_name(path.stem + ".ui.json")
    ui = json.loads(ui_path.read_text("utf-8")) if ui_path.exists() else {}
    return json.loads(path.read_text("utf-8")), ui


@pytest.fixture(scope="module")
def flask_app() -> Flask:
    from app import create_app
    from app.config import Config

    return create_app(Config(database_url="sqlite://", testing=True, secret_key="t", auto_deploy=False,
                             scheduler_in_process=False))


@pytest.fixture
def ctx(flask_app: Flask) -> Iterator[None]:
    with flask_app.test_request_context("/tasks/1"):
        yield


class FormReader(HTMLParser):
    """What a browser would send for a rendered form (no files, no buttons)."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self.names: set[str] = set()
        self._textarea: str | None = None
        self._select: str | None = None
        self._text = ""
        self.required: set[str] = set()
        self._fieldsets: list[bool] = []  # disabled or not: a disabled fieldset's inputs are not sent

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "fieldset":
            self._fieldsets.append("disabled" in a)
        name = a.get("name")
        if name and any(self._fieldsets):
            self.names.add(name)
            return
        if name and "required" in a:
            self.required.add(name)
        if tag == "input" and name:
            self.names.add(name)
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox"):
                if "checked" in a:
                    self.pairs.append((name, a.get("value") or "on"))
            elif kind not in ("file", "submit"):
                self.pairs.append((name, a.get("value") or ""))
        elif tag == "textarea" and name:
            self.names.add(name)
            self._textarea, self._text = name, ""
        elif tag == "select" and name:
            self.names.add(name)
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.pairs.append((self._select, a.get("value") or ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "fieldset" and self._fieldsets:
            self._fieldsets.pop()
        if tag == "textarea" and self._textarea is not None:
            self.pairs.append((self._textarea, self._text))
            self._textarea = None
        elif tag == "select":
            self._select = None


def render(form: Any) -> str:
    return render_template("web/_form.html", form=form, task=SimpleNamespace(id=1), has_errors=bool(form.errors),
                           accept=".pdf", max_mb=10)


def browser_submit(html: str, fill: dict[str, str] | None = None) -> tuple[MultiDict[str, str], FormReader]:
    reader = FormReader()
    reader.feed(html)
    pairs = [(n, v) for n, v in reader.pairs if n != "csrf_token"]
    for name, value in (fill or {}).items():
        pairs = [(n, v) for n, v in pairs if n != name] + [(name, value)]
    return MultiDict(pairs), reader


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.stem)
def test_every_shipped_form_renders_and_round_trips(ctx, path):
    schema, ui = load(path)
    form = build_form(schema, ui, departments=DEPARTMENTS)
    html = render(form)
    properties = schema["properties"]
    # every property of the schema is on the page, with its Chinese title and the required marks
    for key, prop in properties.items():
        assert f'name="{key}' in html, key
        assert split_title(prop["title"])[0] in html
    assert html.count('class="req"') >= len(schema.get("required", []))
    assert form.title and form.title == split_title(schema["title"])[0]
    # a browser submitting the defaults, with the required text typed in, sends valid data
    fields = {f.name: f for f in form.fields}
    fill = {key: "已核实情况属实" for key in schema.get("required", []) if fields[key].widget == "textarea"}
    fill.update({key: fields[key].options[0].value for key in schema.get("required", [])
                 if fields[key].widget in ("select", "radios") and not fields[key].value})
    sent, reader = browser_submit(html, fill)
    assert set(schema.get("required", [])) <= {n.split(".")[0] for n in reader.names}
    submission = read_form(schema, ui, sent, departments=DEPARTMENTS)
    assert submission.errors == {}
    if "route" in properties:  # triage: a joint mediation needs its departments
        submission.data.setdefault("departments", ["hrss"])
    assert validate_form_data(schema, submission.data) == {}, submission.data


def test_widgets_follow_schema_and_hints():
    def w(schema: dict[str, Any], ui: dict[str, Any] | None = None, key: str = "x", **kw: Any) -> str:
        return widget_of(key, schema, ui or {}, **kw)

    assert w({"type": "string"}) == "text"
    assert w({"type": "string", "maxLength": 201}) == "textarea"
    assert w({"type": "string", "maxLength": 200}) == "text"
    assert w({"type": "string"}, {"ui:widget": "textarea"}) == "textarea"
    assert w({"type": "string", "format": "date"}) == "date"
    assert w({"type": "string", "format": "date-time"}) == "datetime"
    assert w({"type": "integer"}) == "number"
    assert w({"type": "number"}) == "number"
    assert w({"type": "string"}, key="citizen_phone") == "tel"
    few = {"type": "string", "enum": ["a", "b", "c"]}
    many = {"type": "string", "enum": list("abcdefg")}
    assert w(few) == "radios" and w(many) == "select"
    assert w(few, {"ui:widget": "select"}) == "select" and w(many, {"ui:widget": "radio"}) == "radios"
    assert w({"type": "boolean"}) == "checkbox"
    assert w({"type": "boolean"}, required=True) == "yesno"
    assert w({"type": "boolean"}, {"ui:widget": "radio"}) == "yesno"
    assert w({"type": "boolean"}, {"ui:widget": "checkbox"}, required=True) == "checkbox"
    assert w({"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}) == "checkboxes"
    assert w({"type": "array", "items": {"type": "string"}}) == "lines"
    assert w({"type": "array", "items": {"type": "string"}}, key="departments", departments=DEPARTMENTS) == \
        "checkboxes"
    assert w({"type": "string"}, key="lead_department", departments=DEPARTMENTS) == "radios"
    assert w({"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}}) == "rows"
    assert w({"type": "object", "properties": {"text": {"type": "string"}}}) == "group"
    assert w({"type": "string", "format": "data-url"}) == "file"
    assert w({"type": "array", "items": {"type": "string", "format": "data-url"}}) == "file"
    # the schema says what holds files, for the page and the server's check alike: a hint alone does not
    assert w({"type": "integer"}, {"ui:widget": "file"}) == "number"
    assert w({"type": "integer", "format": "data-url"}) == "file"
    assert w({"type": "string"}, {"ui:widget": "hidden"}) == "hidden"


def test_departments_listed_from_the_database_with_names(ctx):
    schema = {"type": "object", "required": ["departments"], "properties": {
        "departments": {"type": "array", "title": "部门 Departments", "items": {"type": "string"}, "minItems": 1}}}
    form = build_form(schema, {}, {"departments": ["justice"]}, departments=DEPARTMENTS)
    field = form.fields[0]
    assert field.widget == "checkboxes"
    assert [(o.value, o.label, o.selected) for o in field.options] == [
        ("hrss", "人社局", False), ("justice", "司法局", True), ("housing", "住建局", False)]
    sent = MultiDict([("departments", "hrss"), ("departments", "housing")])
    assert read_form(schema, {}, sent, departments=DEPARTMENTS).data == {"departments": ["hrss", "housing"]}


def test_a_person_field_offers_the_people_of_its_role(ctx):
    schema = {"type": "object", "properties": {
        "leader": {"type": "string", "title": "包案领导 Leader", "format": "username", "x-role": "leader"},
        "anyone": {"type": "string", "format": "username"}}}
    asked: list[str | None] = []

    def people(role: str | None) -> list[tuple[str, str]]:
        asked.append(role)
        if role == "leader":
            return [("zheng", "郑国华（青溪县）"), ("li", "李明（河口镇）")]
        return [("wu", "吴思远（青溪县）")]

    form = build_form(schema, {}, {"leader": "li"}, people=people)
    leader, anyone = form.fields
    assert (leader.widget, anyone.widget) == ("select", "select") and asked == ["leader", None]
    assert [(o.value, o.label, o.selected) for o in leader.options] == [
        ("zheng", "郑国华（青溪县）", False), ("li", "李明（河口镇）", True)]
    sent, _reader = browser_submit(render(form))
    assert read_form(schema, {}, sent).data == {"leader": "li"}
    sent, _reader = browser_submit(render(form), {"leader": ""})
    assert read_form(schema, {}, sent).data == {}  # nobody chosen: left out, as any empty choice

    # a name no longer offered (the leader left) stays listed as it was, with the server's word beside it
    errors = friendly_errors(schema, {"leader": "gone"}, {"leader": "no active user 'gone' with the role leader here"})
    assert errors == {"leader": "请从名单中选择"}
    form = build_form(schema, {}, {"leader": "gone"}, errors, people=people)
    assert [(o.value, o.selected) for o in form.fields[0].options][-1] == ("gone", True)
    assert form.fields[0].error == "请从名单中选择"
    # without a list of people (a preview elsewhere) the field is an empty choice, never a free text box
    assert [o.value for o in build_form(schema, {}, {}).fields[0].options] == []


def test_titles_in_the_ui_language(flask_app):
    assert split_title("事项类别 Category") == ("事项类别", "Category")
    assert split_title("村(社区) Village") == ("村(社区)", "Village")
    assert split_title("当场化解（即办） On the spot") == ("当场化解（即办）", "On the spot")
    assert split_title("Only English") == ("Only English", "Only English")
    assert split_title("只有中文") == ("只有中文", "只有中文")
    # what sticks to the Chinese goes with it; a Chinese part needs no space before English
    assert split_title("到县级? County?") == ("到县级?", "County?")
    assert split_title("一站式联合调处（127+N） One-stop 127+N mediation") == ("一站式联合调处（127+N）",
                                                                            "One-stop 127+N mediation")
    assert split_title("督办2 Supervise") == ("督办2", "Supervise")
    assert split_title("调解员Mediator") == ("调解员", "Mediator")
    assert split_title("中文 123") == ("中文 123", "中文 123") and split_title(None) == ("", "")
    schema, ui = load(ROOT / "forms" / "intake.json")
    with flask_app.test_request_context("/", headers={"Cookie": "lang=en"}):
        form = build_form(schema, ui)
        assert form.title == "Intake" and form.fields[0].label == "Category"
        assert form.fields[0].options[0].label == "Labour and wage arrears"
    with flask_app.test_request_context("/"):
        form = build_form(schema, ui)
        assert form.title == "受理登记" and form.fields[0].label == "事项类别"


def test_typed_values_and_conversion_errors(ctx):
    schema = {"type": "object", "properties": {
        "days": {"type": "integer", "title": "天数"}, "amount": {"type": "number"},
        "when": {"type": "string", "format": "date-time"}, "day": {"type": "string", "format": "date"},
        "ok": {"type": "boolean"}, "sure": {"type": "boolean"}, "n": {"type": "integer", "enum": [1, 2, 3]},
        "names": {"type": "array", "items": {"type": "string"}}, "note": {"type": "string"}},
        "required": ["sure"]}
    sent = MultiDict({"days": "3", "amount": "2.5", "when": "2026-01-27T14:30", "day": "2026-01-27",
                      "sure": "false", "n": "2", "names": "张三\n\n李四 \n", "note": "  "})
    got = read_form(schema, {}, sent)
    assert got.errors == {}
    assert got.data == {"days": 3, "amount": 2.5, "when": "2026-01-27T14:30:00+08:00", "day": "2026-01-27",
                        "ok": False, "sure": False, "n": 2, "names": ["张三", "李四"]}
    bad = read_form(schema, {}, MultiDict({"days": "三天", "when": "tomorrow", "sure": "true"}))
    assert set(bad.errors) == {"days", "when"} and "days" not in bad.data
    # the typed text is shown again, next to its message
    form = build_form(schema, {}, bad.data, bad.errors, raw=bad.raw, use_defaults=False)
    days = next(f for f in form.fields if f.name == "days")
    assert days.value == "三天" and days.error == "请填写整数"
    # stored values come back in the form's local time
    form = build_form(schema, {}, {"when": "2026-01-27T06:30:00+00:00"})
    assert next(f for f in form.fields if f.name == "when").value == "2026-01-27T14:30"


def test_rows_add_remove_and_errors_land_on_their_row(ctx):
    schema, ui = load(ROOT / "forms" / "intake.json")
    form = build_form(schema, ui, {})
    parties = next(f for f in form.fields if f.name == "parties")
    assert parties.widget == "rows" and len(parties.rows) == 1  # one blank row to start typing in
    assert [f.name for f in parties.rows[0]] == ["parties.0.name", "parties.0.role", "parties.0.phone"]
    sent = MultiDict([("category", "labour"), ("parties.__rows", "3"),
                      ("parties.0.name", ""), ("parties.0.role", "applicant"),          # blank: dropped
                      ("parties.1.name", "张三"), ("parties.1.role", "respondent"),
                      ("parties.2.name", ""), ("parties.2.role", "other"), ("parties.2.phone", "138")])
    got = read_form(schema, ui, sent)
    assert got.data["parties"] == [{"name": "张三", "role": "respondent"}, {"role": "other", "phone": "138"}]
    errors = friendly_errors(schema, got.data)
    assert errors == {"parties.1.name": "必填"}
    form = build_form(schema, ui, got.data, errors, use_defaults=False)
    rows = next(f for f in form.fields if f.name == "parties").rows
    assert rows[1][0].name == "parties.1.name" and rows[1][0].error == "必填" and rows[0][0].value == "张三"
    # add a row, then remove the first one
    kept = read_form(schema, ui, sent, keep_blank=True).data
    assert len(kept["parties"]) == 3
    data = apply_action(kept, "add:parties")
    assert len(data["parties"]) == 4 and data["parties"][-1] == {}
    data = apply_action(data, "remove:parties.0")
    assert data["parties"][0]["name"] == "张三" and len(data["parties"]) == 3
    assert apply_action({"x": 1}, "drop:x") == {"x": 1}


def test_nested_object_and_required_marks(ctx):
    schema = json.loads((ROOT / "tests" / "api" / "bundles" / "opinion.json").read_text())
    form = build_form(schema, {})
    group = form.fields[0]
    assert group.widget == "group" and group.required
    assert [(c.name, c.required) for c in group.children] == [("opinion_item.text", True)]
    assert read_form(schema, {}, MultiDict({"opinion_item.text": "同意"})).data == {"opinion_item": {"text": "同意"}}
    missing = read_form(schema, {}, MultiDict({"opinion_item.text": ""})).data
    assert missing == {"opinion_item": {}}
    assert friendly_errors(schema, missing) == {"opinion_item.text": "必填"}


def test_friendly_errors_in_chinese_keyed_like_the_service(ctx):
    schema, ui = load(ROOT / "forms" / "department_opinion.json")
    data = {"action": "extension", "text": ""}
    errors = friendly_errors(schema, data)
    assert errors == {"text": "必填", "extension_days": "必填"}
    assert set(errors) == set(validate_form_data(schema, data))
    assert friendly_errors(schema, {"action": "nope", "text": "x", "extension_days": 99}) == {
        "action": "请从选项中选择", "extension_days": "不能大于 15"}
    # unknown keys from the service are shown as they come; top-level problems go above the form
    assert friendly_errors({}, {}, {"data": "boom"}) == {"data": "boom"}
    form = build_form(schema, ui, {}, {"data": "整体有误", "text": "必填"})
    assert form.errors == ["整体有误"] and next(f for f in form.fields if f.name == "text").error == "必填"


def test_files_become_attachment_ids(ctx):
    schema = {"type": "object", "properties": {
        "photo": {"type": "string", "format": "data-url", "title": "照片"},
        "evidence": {"type": "array", "items": {"type": "string", "format": "data-url"}, "title": "证据"}}}
    stored: list[tuple[str, str]] = []

    def upload(name: str, storage: FileStorage) -> int:
        if storage.filename.endswith(".exe"):
            raise FileRejected("不支持")
        stored.append((name, storage.filename))
        return 40 + len(stored)

    files = MultiDict([("photo", FileStorage(b"x", filename="现场.jpg")),
                       ("evidence", FileStorage(b"x", filename="协议.pdf")),
                       ("evidence", FileStorage(b"x", filename="病毒.exe"))])
    got = read_form(schema, {}, MultiDict([("evidence.__keep", "7")]), files, upload=upload)
    assert got.data == {"photo": "41", "evidence": ["7", "42"]}
    assert got.errors == {"evidence": "不支持"}
    assert stored == [("photo", "现场.jpg"), ("evidence", "协议.pdf")]
    form = build_form(schema, {}, got.data, file_lookup=lambda ids: [SimpleNamespace(id=i, filename=f"f{i}", size=1)
                                                                      for i in ids])
    assert form.multipart and [a.id for a in form.fields[1].files] == [7, 42]
    html = render(form)
    assert 'enctype="multipart/form-data"' in html and 'name="evidence.__keep" value="42" checked' in html


def test_initial_values_prefer_the_task_then_the_case_then_defaults(ctx):
    schema, ui = load(ROOT / "forms" / "triage.json")
    values = initial_values(schema, {"departments": ["hrss"], "route": None}, {"lead_department": "justice",
                                                                              "departments": ["housing"]})
    assert values == {"departments": ["hrss"], "lead_department": "justice"}
    form = build_form(schema, ui, values)
    route = next(f for f in form.fields if f.name == "route")
    assert route.value == "joint"  # the schema's default
    assert [o.value for o in next(f for f in form.fields if f.name == "departments").options if o.selected] == ["hrss"]


def test_markup_in_values_is_escaped(ctx):
    schema = {"type": "object", "properties": {"note": {"type": "string", "title": "<b>说明</b>"}}}
    html = render(build_form(schema, {}, {"note": '"><script>alert(1)</script>'}))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html and "<b>说明" not in html


def test_fields_of_one_choice_show_and_are_kept_only_while_it_is_made(ctx):
    schema, ui = load(ROOT / "forms" / "department_opinion.json")
    # an opinion (the default) does not ask for the extension's working days: hidden, disabled, not sent
    html = render(build_form(schema, ui))
    box = re.search(r'<fieldset class="ff-when" data-show-when=\'([^\']*)\'([^>]*)>', html)
    assert json.loads(box.group(1)) == [{"field": "action", "values": ["extension"], "negate": False}]
    assert "hidden disabled" in box.group(2)
    sent, _reader = browser_submit(html, {"text": "同意"})
    assert "extension_days" not in sent
    assert read_form(schema, ui, sent).data == {"action": "opinion", "text": "同意"}
    # without JavaScript the field stays on the page: what it holds is not kept for an opinion
    stale = MultiDict({"action": "opinion", "text": "同意", "extension_days": "x"})
    assert (read_form(schema, ui, stale).data, read_form(schema, ui, stale).errors) == \
        ({"action": "opinion", "text": "同意"}, {})
    # asking for an extension shows it and keeps it
    html = render(build_form(schema, ui, {"action": "extension"}))
    assert "hidden disabled" not in re.search(r'<fieldset class="ff-when"[^>]*>', html).group(0)
    assert re.search(r'<input id="f-extension_days" name="extension_days" type="number" value="3" required', html)
    sent, _reader = browser_submit(html, {"text": "需现场核查"})
    assert read_form(schema, ui, sent).data == {"action": "extension", "text": "需现场核查", "extension_days": 3}


def test_triage_asks_for_the_level_only_when_handing_down(ctx):
    schema, ui = load(ROOT / "forms" / "triage.json")
    fields = {f.name: f for f in build_form(schema, ui, {"route": "joint"}, departments=DEPARTMENTS).fields}
    assert (fields["hand_down_level"].hidden, fields["lead_department"].hidden, fields["departments"].hidden) == \
        (True, False, False)
    assert not fields["services"].show_when and not fields["route"].show_when  # for both routes; the choice itself
    fields = {f.name: f for f in build_form(schema, ui, {"route": "hand_down"}, departments=DEPARTMENTS).fields}
    assert (fields["hand_down_level"].hidden, fields["lead_department"].hidden) == (False, True)
    form = MultiDict([("route", "hand_down"), ("hand_down_level", "village"), ("lead_department", "hrss"),
                      ("departments", "hrss")])
    assert read_form(schema, ui, form, departments=DEPARTMENTS).data == {"route": "hand_down",
                                                                         "hand_down_level": "village"}


def test_branches_read_then_else_enum_and_all_of():
    schema = {
        "type": "object", "required": ["kind", "always"],
        "properties": {k: {"type": "string"} for k in ("kind", "always", "a", "b", "c", "d")},
        "if": {"properties": {"kind": {"const": "x"}}}, "then": {"required": ["a", "always"]},
        "else": {"properties": {"b": {}}},
        "allOf": [{"if": {"properties": {"kind": {"enum": ["y", "z"]}}}, "then": {"required": ["c", "a"]}},
                  {"if": {"properties": {"kind": {"minLength": 3}}}, "then": {"required": ["d"]}},
                  {"if": {"properties": {"kind": {"const": "x"}, "a": {"const": "1"}}}, "then": {"required": ["d"]}}],
    }
    found = branches(schema)
    # a field the form requires anyway, or one under a condition read otherwise, is always shown
    assert set(found) == {"a", "b", "c"}
    assert [b.holds({"kind": "x"}) for b in found["a"]] == [True, False]
    assert [(b.required, b.negate) for b in found["a"] + found["b"]] == [(True, False), (True, False), (False, True)]
    assert [b.holds({"kind": "z"}) for b in found["a"]] == [False, True]
    assert [b.holds({"kind": "x"}) for b in found["b"]] == [False]
    assert [b.holds({}) for b in found["b"]] == [True]  # nothing chosen: the else branch
    assert Branch("flag", (True,)).holds({"flag": 1}) is False  # 1 is not true
