"""Version history, roll back, export, the audit log page and the form editor, through the browser UI's routes."""

from __future__ import annotations

import io
import json
import re
import zipfile
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.processes.models import Artifact, FormVersion, ProcessVersion
from app.processes.service import deploy_bundle, latest_process_version, read_bundle_dir
from app.studio import drafts
from app.studio.models import Draft
from tests.web.test_inbox import client_for
from tests.web.test_login import csrf

BUNDLES = Path(__file__).parent.parent / "api" / "bundles"
FILES = ("two_step.bpmn", "triage.json", "opinion.json")


def publish_two_versions(api, database, org) -> None:
    """two_step v1 (by the API), then v2 renaming the triage step, published from a draft with a note."""
    r = api.deploy({n: (BUNDLES / n).read_text() for n in FILES})
    assert r.status_code == 201, r.get_json()
    with database.unit_of_work() as s:
        designer = s.merge(org.users["designer"])
        text, _ = drafts.current_text(s, "two_step.bpmn")
        drafts.save_draft(s, designer, "two_step.bpmn", text.replace('name="分流"', 'name="分流核实"'))
    with database.unit_of_work() as s:
        drafts.publish(s, s.merge(org.users["designer"]), ["two_step.bpmn"], note="分流改名为分流核实")


def page(client, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, r.status_code
    return r.get_data(as_text=True)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_history_lists_versions_with_author_note_and_readable_diff(app, api, database, org):
    publish_two_versions(api, database, org)
    designer = client_for(app, "designer")
    html = page(designer, "/studio/history/process/two_step")
    versions = re.findall(r'<li class="[^"]*" id="v(\d+)">', html)
    assert versions == ["2", "1"]
    text = text_of(html)
    assert "第 2 版 当前" in text and "分流改名为分流核实" in text and "（未填写说明）" in text
    assert text.count("designer") >= 2  # both versions were published by the designer
    # the newest version's diff: the renamed user task, old and new name
    assert "第 2 版相对第 1 版的改动" in text
    assert re.search(r"修改（1）.*用户任务 分流核实 triage.*名称 分流 分流核实", text)
    assert "新增 0" in text and "删除 0" in text and "修改 1" in text
    assert '<span class="del">-    &lt;bpmn:userTask id=&#34;triage&#34; name=&#34;分流&#34;&gt;</span>' in html
    first = text_of(page(designer, "/studio/history/process/two_step?v=1"))
    assert "这是第一个版本，没有可比较的上一版。" in first
    assert designer.get("/studio/history/process/two_step?v=9").status_code == 404
    assert designer.get("/studio/history/process/nothing").status_code == 404
    assert designer.get("/studio/history/thing/two_step").status_code == 404
    # a form's history, and the leader may read but not roll back processes
    assert "triage.json" in page(designer, "/studio/history/form/triage.json")
    leader_html = page(client_for(app, "leader"), "/studio/history/process/two_step")
    assert "回滚到此版本" not in leader_html and "回滚到此版本" in html
    assert client_for(app, "mediator").get("/studio/history/process/two_step").status_code == 403


def test_rollback_publishes_the_old_version_again_and_audits_it(app, api, database, org):
    publish_two_versions(api, database, org)
    leader = client_for(app, "leader")
    token = csrf(page(leader, "/studio/history/process/two_step"))
    r = leader.post("/studio/history/process/two_step/rollback", data={"csrf_token": token, "version": "1"})
    assert r.status_code == 403
    designer = client_for(app, "designer")
    token = csrf(page(designer, "/studio/history/process/two_step"))
    r = designer.post("/studio/history/process/two_step/rollback",
                      data={"csrf_token": token, "version": "1", "note": "改名有误，恢复"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/studio/history/process/two_step?v=3")
    with database.unit_of_work(write=False) as s:
        v1 = s.scalar(select(ProcessVersion).where(ProcessVersion.process_id == "two_step",
                                                   ProcessVersion.version == 1))
        v3 = latest_process_version(s, "two_step")
        assert v3.version == 3
        assert v3.artifact.content == v1.artifact.content and v3.artifact.sha256 == v1.artifact.sha256
        assert (v3.deployment.note, v3.deployment.source) == ("改名有误，恢复", "rollback")
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "rollback")).all()
        assert (entry.subject_kind, entry.subject_id, entry.summary) == ("process", "two_step", "two_step v3 = v1")
        assert entry.detail["from_version"] == 1 and entry.detail["replaced_version"] == 2
        assert entry.detail["new_version"] == 3 and entry.actor_id == org.users["designer"].id
    text = text_of(page(designer, "/studio/history/process/two_step?v=3"))
    assert "已将第 1 版重新发布为第 3 版。" in text and "改名有误，恢复" in text
    assert re.search(r"修改（1）.*用户任务 分流 triage.*名称 分流核实 分流", text)
    # rolling back to what is already the newest text changes nothing
    r = designer.post("/studio/history/process/two_step/rollback", data={"csrf_token": token, "version": "1"},
                      follow_redirects=True)
    assert "第 1 版与当前最新版本内容相同，无需回滚。" in r.get_data(as_text=True)
    with database.unit_of_work(write=False) as s:
        assert latest_process_version(s, "two_step").version == 3
        assert len(s.scalars(select(AuditEntry).where(AuditEntry.action == "rollback")).all()) == 1


def test_export_a_version_and_the_newest_of_everything(app, api, database, org, tmp_path):
    publish_two_versions(api, database, org)
    designer = client_for(app, "designer")
    r = designer.get("/studio/history/process/two_step/v1/export.zip")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    assert r.headers["Content-Disposition"] == 'attachment; filename="process-two_step-v1.zip"'
    archive = zipfile.ZipFile(io.BytesIO(r.data))
    assert archive.namelist() == ["forms/opinion.json", "forms/triage.json", "processes/two_step.bpmn", "EXPORT.txt"]
    assert archive.read("processes/two_step.bpmn").decode() == (BUNDLES / "two_step.bpmn").read_text()
    assert archive.read("EXPORT.txt").decode().startswith("OneStop export: process two_step version 1\n")
    v2 = zipfile.ZipFile(io.BytesIO(designer.get("/studio/history/process/two_step/v2/export.zip").data))
    assert v2.namelist() == ["processes/two_step.bpmn", "EXPORT.txt"]
    assert 'name="分流核实"' in v2.read("processes/two_step.bpmn").decode()

    r = designer.get("/studio/export/latest.zip")
    assert r.status_code == 200
    latest = zipfile.ZipFile(io.BytesIO(r.data))
    assert latest.namelist() == ["forms/opinion.json", "forms/triage.json", "processes/two_step.bpmn", "EXPORT.txt"]
    assert 'name="分流核实"' in latest.read("processes/two_step.bpmn").decode()
    latest.extractall(tmp_path)
    files = {**read_bundle_dir(tmp_path / "processes"), **read_bundle_dir(tmp_path / "forms")}
    assert sorted(files) == ["opinion.json", "triage.json", "two_step.bpmn"]
    with database.unit_of_work() as s:  # what `onestop deploy processes forms` does with the unpacked zip
        result = deploy_bundle(s, files, source="cli")
        assert [pv.version for pv in result.processes] == [3]
    assert client_for(app, "mediator").get("/studio/export/latest.zip").status_code == 403
    assert designer.get("/studio/history/process/two_step/v7/export.zip").status_code == 404


def test_audit_page_filters_and_roles(app, api, database, org):
    publish_two_versions(api, database, org)
    designer = client_for(app, "designer")
    token = csrf(page(designer, "/studio/history/process/two_step"))
    designer.post("/studio/history/process/two_step/rollback", data={"csrf_token": token, "version": "1"})
    text = text_of(page(designer, "/studio/audit"))
    assert "共 3 条" in text  # the API's publish of v1, the studio's of v2, the roll back
    assert text.index("回滚") < text.index("two_step v2") < text.index("two_step v1")  # newest first
    assert "two_step v3 = v1" in text and "回滚到的版本 1" in text and "流程 two_step v2" in text
    only = text_of(page(designer, "/studio/audit?action=publish"))
    assert "共 2 条" in only and "two_step v3 = v1" not in only
    subject = text_of(page(client_for(app, "leader"), "/studio/audit?subject_kind=process&subject_id=two_step"))
    assert "共 3 条" in subject  # the roll back, and the publishes recorded against their deployments
    forms = text_of(page(designer, "/studio/audit?subject_kind=form&subject_id=opinion.json"))
    assert "共 1 条" in forms and "two_step v1, opinion.json v1, triage.json v1" in forms
    assert "共 0 条" in text_of(page(designer, "/studio/audit?subject_kind=process&subject_id=two"))
    assert client_for(app, "mediator").get("/studio/audit").status_code == 403
    assert client_for(app, "receiver").get("/studio/audit").status_code == 403


def test_the_first_publish_of_a_new_install_is_the_systems_with_its_versions_folded(app, database, org):
    from app.processes.service import deploy_shipped

    root = Path(__file__).resolve().parents[2]
    with database.unit_of_work() as s:
        deploy_shipped(s, (root / "processes", root / "forms"), note="shipped processes and forms", source="auto")
    html = page(client_for(app, "designer"), "/studio/audit")
    assert "共 1 条" in text_of(html)
    row = re.search(r"<tbody>(.*)</tbody>", html, re.S).group(1)
    assert '<td class="nowrap">系统</td>' in row and "mediation v1" in row
    # tens of versions: the summary line names them, the list of them is folded
    assert re.search(r'<details><summary class="muted">明细</summary>\s*<div class="detail">', row)
    assert "表单 triage.json v1" in text_of(row)


# --- the form editor --------------------------------------------------------------------------------

def deploy_triage(api) -> None:
    r = api.deploy({n: (BUNDLES / n).read_text() for n in FILES})
    assert r.status_code == 201, r.get_json()


def preview(client, token: str, schema: str, ui: str = "", **extra: str):
    return client.post("/studio/forms/triage.json/preview",
                       data={"schema": schema, "ui": ui, "source": "text", **extra},
                       headers={"X-CSRFToken": token, "HX-Request": "true"})


def test_form_editor_renders_the_preview_with_the_task_form_code(app, api, database, org):
    deploy_triage(api)
    designer = client_for(app, "designer")
    html = page(designer, "/studio/forms/triage.json")
    assert "已发布第 1 版" in html
    assert "使用此表单的流程：two_step" in html and "这些提示在办理时不会生效" not in html
    schema = textarea(html, "fe-schema")
    assert json.loads(schema) == json.loads((BUNDLES / "triage.json").read_text())
    # the preview is the task form: labels and the required mark of the task page's fields
    assert re.search(r'<label for="f-note">备注</label>', html)
    assert re.search(r'<legend>部门<span class="req"', html)
    assert 'name="f0_key" value="departments"' in html and 'name="f1_key" value="note"' in html
    token = csrf(html)
    changed = json.loads(schema)
    changed["properties"]["phone"] = {"type": "string", "title": "联系电话 Phone"}
    r = preview(designer, token, json.dumps(changed))
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and '<label for="f-phone">联系电话</label>' in body
    assert 'id="fe-fields" class="fe-fields" hx-swap-oob="true"' in body and 'name="f2_key" value="phone"' in body


def test_form_editor_shows_json_and_schema_errors_inline(app, api, database, org):
    deploy_triage(api)
    designer = client_for(app, "designer")
    token = csrf(page(designer, "/studio/forms/triage.json"))
    body = preview(designer, token, '{"type": "object",\n  "properties": {"a": }}').get_data(as_text=True)
    errors = re.search(r'<ul id="fe-schema-errors".*?</ul>', body, re.S).group(0)
    assert 'data-line="2"' in errors and "JSON 格式错误：Expecting value（第 23 列）" in text_of(errors)
    assert "改正表单 JSON 的错误后显示预览。" in body
    body = preview(designer, token, json.dumps({"type": "object", "properties": {"a": {"type": "text"}}}, indent=1)
                   ).get_data(as_text=True)
    errors = text_of(re.search(r'<ul id="fe-schema-errors".*?</ul>', body, re.S).group(0))
    assert "不是有效的 JSON Schema（Draft 2020-12），位置 /properties/a/type" in errors
    assert 'data-line="5"' in body
    body = preview(designer, token, (BUNDLES / "triage.json").read_text(), ui="[1, 2]").get_data(as_text=True)
    assert "界面提示必须是 JSON 对象（{...}）" in body
    body = preview(designer, token, (BUNDLES / "triage.json").read_text(), ui='{"ui:order": [}').get_data(as_text=True)
    ui_errors = text_of(re.search(r'<ul id="fe-ui-errors".*?</ul>', body, re.S).group(0))
    assert "第 1 行" in ui_errors and "JSON 格式错误" in ui_errors


def textarea(html: str, ident: str) -> str:
    return unescape(re.search(rf'<textarea id="{ident}"[^>]*>(.*?)</textarea>', html, re.S).group(1))


def field_post(html: str, token: str = "") -> dict[str, str]:
    """The editor form's fields as the browser would post them."""
    data = {"csrf_token": token or csrf(html), "schema": textarea(html, "fe-schema"), "ui": textarea(html, "fe-ui"),
            "rows": re.search(r'name="rows" value="(\d+)"', html).group(1)}
    for name, value in re.findall(r'<input[^>]*name="(f\d+_(?:key|orig|title|type))" value="([^"]*)"', html):
        data[name] = unescape(value)
    for name in re.findall(r'<select id="f\d+_type" name="(f\d+_type)"', html):
        block = html[html.index(f'name="{name}"'):]
        data[name] = re.search(r'<option value="(\w+)" selected', block).group(1)
    for name in re.findall(r'name="(f\d+_required)" value="1" checked', html):
        data[name] = "1"
    options = r'<textarea id="f\d+_options" name="(f\d+_options)"[^>]*>(.*?)</textarea>'
    for name, value in re.findall(options, html, re.S):
        data[name] = unescape(value)
    choices = r'<select id="f\d+_(?:when|options)" name="(f\d+_(?:when|options))"[^>]*>(.*?)</select>'
    for name, block in re.findall(choices, html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', block)
        data[name] = unescape(chosen.group(1)) if chosen else ""
    for name in re.findall(r'<input type="hidden" name="(f\d+_when)" value="json">', html):
        data[name] = "json"
    return data


def test_field_list_edits_rewrite_the_schema(app, api, database, org):
    deploy_triage(api)
    designer = client_for(app, "designer")
    html = page(designer, "/studio/forms/triage.json")
    data = field_post(html)
    token = data["csrf_token"]
    assert data["f0_type"] == "complex" and data["f1_type"] == "string"  # an array without choices: JSON only
    data.update({"source": "fields", "op": "add"})
    r = designer.post("/studio/forms/triage.json/preview", data=data)
    body = r.get_data(as_text=True)
    schema = json.loads(textarea(body, "fe-schema"))
    assert list(schema["properties"]) == ["departments", "note", "field_3"]
    assert schema["properties"]["field_3"] == {"type": "string", "title": "新字段"}
    assert '<label for="f-field_3">新字段</label>' in body  # the preview came along
    # rename, retype to a choice, require it and move it to the top
    data = field_post(body, token)
    data.update({"source": "fields", "f2_key": "urgency", "f2_title": "紧急程度", "f2_required": "1",
                 "f2_options": "normal = 一般\nurgent = 紧急", "op": "up:2"})
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    schema = json.loads(textarea(body, "fe-schema"))
    assert list(schema["properties"]) == ["departments", "urgency", "note"]
    assert schema["properties"]["urgency"] == {"type": "string", "title": "紧急程度",
                                               "oneOf": [{"const": "normal", "title": "一般"},
                                                         {"const": "urgent", "title": "紧急"}]}
    assert schema["required"] == ["departments", "urgency"]
    assert 'value="urgent"' in body and "紧急</label>" in body  # radio buttons in the preview
    # a repeated key changes nothing and says why next to the row
    data = field_post(body, token)
    data.update({"source": "fields", "f1_key": "note"})
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    assert "字段名“note”重复了" in body and "字段列表有错误，表单没有改动。" in body
    kept = json.loads(textarea(body, "fe-schema"))
    assert kept == schema


def test_the_field_list_makes_a_field_name_a_person_of_a_role(app, api, database, org):
    """A designer turns a field into a choice of people (人员) of one role: written as `format: username`
    with `x-role`, previewed as a drop-down of that role's people, and turned back into plain text."""
    deploy_triage(api)
    designer = client_for(app, "designer")
    html = page(designer, "/studio/forms/triage.json")
    data = field_post(html)
    token = data["csrf_token"]
    data.update({"source": "fields", "f1_type": "person", "f1_title": "包案领导"})  # the type's select posts at once
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    assert re.search(r'<option value="leader"\s*>领导</option>', body)  # the role to choose
    data = field_post(body, token)
    data.update({"source": "fields", "f1_options": "leader"})
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    schema = json.loads(textarea(body, "fe-schema"))
    assert schema["properties"]["note"] == {"type": "string", "title": "包案领导", "format": "username",
                                            "x-role": "leader"}
    preview = body.split('id="f-note"')[1].split("</select>")[0]
    assert '<option value="leader"' in preview and '<option value="mediator"' not in preview
    data = field_post(body, token)
    assert (data["f1_type"], data["f1_options"]) == ("person", "leader")  # read back into the list
    # a role that does not exist changes nothing and says so; back to text drops the person keywords
    data.update({"source": "fields", "f1_options": "boss"})
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    assert "没有“boss”这个角色" in body and json.loads(textarea(body, "fe-schema")) == schema
    # the type changes as the browser sends it: with the options column of the type it leaves (a role,
    # or choices), which does not carry over
    data = field_post(body, token)
    assert data["f1_options"] == ""  # the refused role is not offered
    data.update({"source": "fields", "f1_options": "leader"})
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    data = field_post(body, token)
    data.update({"source": "fields", "f1_type": "string"})
    assert data["f1_options"] == "leader"
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    assert json.loads(textarea(body, "fe-schema"))["properties"]["note"] == {"type": "string", "title": "包案领导"}
    data = field_post(body, token)
    data.update({"source": "fields", "f1_options": "a\nb"})
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    data = field_post(body, token)
    data.update({"source": "fields", "f1_type": "person"})
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    assert json.loads(textarea(body, "fe-schema"))["properties"]["note"] == {"type": "string", "title": "包案领导",
                                                                            "format": "username"}


def test_the_field_list_sets_when_a_field_shows(app, api, database, org):
    """A designer makes a field belong to a choice in the list (no JSON): written as the schema's if/then,
    required only while shown, and the preview follows it."""
    deploy_triage(api)
    designer = client_for(app, "designer")
    body = page(designer, "/studio/forms/triage.json")
    data = field_post(body)
    token = data["csrf_token"]
    data.update({"source": "fields", "op": "add"})
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    data = field_post(body, token)
    data.update({"source": "fields", "f2_key": "route", "f2_title": "处理方式 Route",
                 "f2_options": "joint = 联合调处\nhand_down = 交办"})
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    # the note's choices: a value of the route (not of itself), and 'always'
    choices = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>',
                         re.search(r'<select id="f1_when".*?</select>', body, re.S).group(0))
    assert [unescape(v) for v, _t in choices] == ["", 'route="joint"', 'route="hand_down"']
    assert choices[2][1] == "仅当 处理方式 = 交办"
    data = field_post(body, token)
    data.update({"source": "fields", "f1_when": 'route="hand_down"', "f1_required": "1"})
    body = designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True)
    schema = json.loads(textarea(body, "fe-schema"))
    assert schema["allOf"] == [{"if": {"properties": {"route": {"const": "hand_down"}}, "required": ["route"]},
                                "then": {"required": ["note"]}}]
    assert "note" not in schema["required"]  # required while shown, by the condition
    assert re.search(r'<fieldset class="ff-when" data-show-when=\'[^\']*hand_down[^\']*\' hidden disabled>', body)
    # renaming the route's key takes its conditions along; 'always' drops the condition
    data = field_post(body, token)
    data.update({"source": "fields", "f2_key": "path"})
    schema = json.loads(textarea(designer.post("/studio/forms/triage.json/preview", data=data)
                                 .get_data(as_text=True), "fe-schema"))
    assert schema["allOf"][0]["if"] == {"properties": {"path": {"const": "hand_down"}}, "required": ["path"]}
    data = field_post(designer.post("/studio/forms/triage.json/preview", data=data).get_data(as_text=True), token)
    data.update({"source": "fields", "f1_when": ""})
    schema = json.loads(textarea(designer.post("/studio/forms/triage.json/preview", data=data)
                                 .get_data(as_text=True), "fe-schema"))
    assert "allOf" not in schema and "note" in schema["required"]


def test_the_preview_of_a_file_field_names_the_upload_limit(app, api, database, org):
    deploy_triage(api)
    designer = client_for(app, "designer")
    token = csrf(page(designer, "/studio/forms/triage.json"))
    schema = {"type": "object", "properties": {"scan": {"type": "string", "title": "扫描件", "format": "data-url"}}}
    body = preview(designer, token, json.dumps(schema)).get_data(as_text=True)
    assert "每个不超过 10 MB" in body and 'data-max-bytes="10485760"' in body  # was "0 MB"


def test_the_field_list_keeps_conditions_only_the_json_says():
    from app.web.forms_editor import apply_rows, rows_from_schema

    schema = {"type": "object", "required": ["kind"],
              "properties": {"kind": {"type": "string", "enum": ["a", "b"]}, "x": {"type": "string"},
                             "y": {"type": "string"}},
              "if": {"properties": {"kind": {"const": "a"}}}, "then": {"required": ["x"]},
              "else": {"required": ["y"]}}
    rows = rows_from_schema(schema, None)
    assert [(r.key, r.when) for r in rows] == [("kind", ""), ("x", "json"), ("y", "json")]
    rewritten, _ui, ok = apply_rows(schema, None, rows)
    assert ok and rewritten == schema  # an if/then/else is the JSON's to edit
    # a condition of the list's shape on a field it offers no choices of is the JSON's too
    free = {"type": "object", "properties": {"kind": {"type": "string"}, "x": {"type": "string"}},
            "allOf": [{"if": {"properties": {"kind": {"const": "a"}}}, "then": {"required": ["x"]}}]}
    rows = rows_from_schema(free, None)
    assert [(r.when, r.required) for r in rows] == [("", False), ("json", False)]
    assert apply_rows(free, None, rows)[0] == free
    # one condition names x and y, and y has another: both are the JSON's, and the condition stays whole
    shared = {"type": "object", "properties": {k: {"type": "string", "enum": ["a", "b"]} for k in ("kind", "x", "y")},
              "allOf": [{"if": {"properties": {"kind": {"const": "a"}}}, "then": {"required": ["x", "y"]}},
                        {"if": {"properties": {"x": {"const": "b"}}}, "then": {"required": ["y"]}, "else": {}}]}
    rows = rows_from_schema(shared, None)
    assert [r.when for r in rows] == ["", "json", "json"]
    assert apply_rows(shared, None, rows)[0] == shared


def test_the_field_list_refuses_a_condition_no_field_offers():
    from app.web.forms_editor import apply_rows, rows_from_schema

    schema = {"type": "object", "properties": {"kind": {"type": "string", "enum": ["a", "b"]}, "x": {"type": "string"}}}
    for bad in ('kind="c"', "kind=c", 'x="a"', 'gone="a"', "whatever"):
        rows = rows_from_schema(schema, None)
        rows[1].when = bad
        kept, _ui, ok = apply_rows(schema, None, rows)
        assert (ok, kept, rows[1].error) == (False, schema, "显示条件不再有效，请重新选择"), bad
    rows = rows_from_schema(schema, None)
    rows[0].when = 'kind="a"'  # its own value
    assert apply_rows(schema, None, rows)[2] is False and rows[0].error


def test_save_publish_and_discard(app, api, database, org):
    deploy_triage(api)
    designer = client_for(app, "designer")
    html = page(designer, "/studio/forms/triage.json")
    data = field_post(html)
    schema = json.loads(data["schema"])
    schema["properties"]["note"]["title"] = "处理意见 Opinion"
    data["schema"] = json.dumps(schema, ensure_ascii=False, indent=2)
    r = designer.post("/studio/forms/triage.json", data={**data, "action": "save"})
    assert r.status_code == 302
    with database.unit_of_work(write=False) as s:
        assert [d.filename for d in s.scalars(select(Draft))] == ["triage.json"]
    html = page(designer, "/studio/forms/triage.json")
    assert "草稿已保存，尚未发布。" in html and "处理意见" in html and "放弃草稿" in html
    # publishing needs a note; without one nothing is published
    r = designer.post("/studio/forms/triage.json", data={**data, "action": "publish", "note": ""})
    assert r.status_code == 422 and "请填写发布说明" in r.get_data(as_text=True)
    # a broken schema is not published and the problem is shown with its line
    broken = {**data, "schema": '{"type": "object", "properties": {"x": {"type": "nope"}}}', "note": "试一下"}
    r = designer.post("/studio/forms/triage.json", data={**broken, "action": "publish"})
    assert r.status_code == 422
    assert re.search(r"发布未成功.*triage.json 第 1 行：不是有效的 JSON Schema", text_of(r.get_data(as_text=True)))
    with database.unit_of_work(write=False) as s:
        assert s.scalar(select(FormVersion).where(FormVersion.version == 2)) is None
    r = designer.post("/studio/forms/triage.json", data={**data, "action": "publish", "note": "备注改为处理意见"})
    assert r.status_code == 302
    with database.unit_of_work(write=False) as s:
        fv = s.scalar(select(FormVersion).where(FormVersion.filename == "triage.json", FormVersion.version == 2))
        assert json.loads(fv.artifact.content)["properties"]["note"]["title"] == "处理意见 Opinion"
        assert fv.deployment.note == "备注改为处理意见"
        assert s.scalars(select(Draft)).all() == []
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "publish").order_by(AuditEntry.id)).all()
        assert [e.summary for e in entries] == ["two_step v1, opinion.json v1, triage.json v1", "triage.json v2"]
        assert entries[1].actor_id == org.users["designer"].id
    assert "已发布：triage.json v2。" in page(designer, "/studio/forms/triage.json")
    # a draft can be thrown away
    designer.post("/studio/forms/triage.json", data={**data, "schema": data["schema"] + " ", "action": "save"})
    with database.unit_of_work(write=False) as s:
        assert len(s.scalars(select(Draft)).all()) == 1
    r = designer.post("/studio/forms/triage.json", data={**data, "action": "discard"})
    assert r.status_code == 302
    with database.unit_of_work(write=False) as s:
        assert s.scalars(select(Draft)).all() == []
        assert len(s.scalars(select(Artifact).where(Artifact.filename == "triage.json")).all()) == 2


def test_form_editor_is_read_only_for_leaders_and_closed_to_others(app, api, database, org):
    deploy_triage(api)
    leader = client_for(app, "leader")
    html = page(leader, "/studio/forms/triage.json")
    assert "只读" in html and 'value="publish"' not in html and 'value="save"' not in html
    assert re.search(r'<textarea id="fe-schema"[^>]*readonly', html, re.S)
    assert re.search(r'<fieldset id="fe-fields" class="fe-fields"\s+disabled>', html)
    data = field_post(html)
    for action in ("save", "publish", "discard"):
        r = leader.post("/studio/forms/triage.json", data={**data, "action": action, "note": "x"})
        assert r.status_code == 403
    with database.unit_of_work(write=False) as s:
        assert s.scalars(select(Draft)).all() == []
    assert client_for(app, "mediator").get("/studio/forms/triage.json").status_code == 403
    assert leader.get("/studio/forms/nothing.json").status_code == 404
    # a UI hints file opens its form's editor
    r = client_for(app, "designer").get("/studio/forms/triage.ui.json")
    assert r.status_code == 302 and r.headers["Location"].endswith("/studio/forms/triage.json")


# --- the same over the JSON API -----------------------------------------------------------------------

def test_api_diff_export_rollback_and_audit(app, api, database, org):
    publish_two_versions(api, database, org)
    r = api.get("/processes/two_step/versions/2/diff", "leader")
    assert r.status_code == 200
    body = r.get_json()
    assert (body["version"], body["against"], body["counts"]) == (2, 1, {"added": 0, "removed": 0, "changed": 1})
    assert body["changes"] == [{"op": "changed", "what": "element", "key": "triage", "type": "userTask",
                                "name": "分流核实", "group": "two_step", "context": [],
                                "details": [{"attr": "name", "old": "分流", "new": "分流核实", "added": [],
                                             "removed": []}]}]
    assert api.get("/processes/two_step/versions/1/diff", "designer").get_json()["first"] is True
    assert api.get("/processes/two_step/versions/2/diff?against=x", "designer").status_code == 400
    assert api.get("/processes/two_step/versions/2/diff", "mediator").status_code == 403
    assert api.get("/processes/two_step/versions/5/diff", "designer").status_code == 404
    r = api.get("/forms/triage.json/versions", "designer")
    assert [(v["version"], v["published_by"]) for v in r.get_json()["items"]] == [(1, "designer")]
    r = api.get("/processes/two_step/versions/2/export.zip", "designer")
    assert r.status_code == 200 and zipfile.ZipFile(io.BytesIO(r.data)).namelist() == ["processes/two_step.bpmn",
                                                                                         "EXPORT.txt"]
    assert api.post("/processes/two_step/versions/1/rollback", "leader", json={}).status_code == 403
    r = api.post("/processes/two_step/versions/1/rollback", "designer", json={"note": "恢复"})
    assert r.status_code == 201, r.get_json()
    assert (r.get_json()["version"], r.get_json()["rolled_back_to"]) == (3, 1)
    r = api.post("/processes/two_step/versions/1/rollback", "designer", json={})
    assert r.status_code == 409 and r.get_json()["error"] == "conflict"
    items = api.get("/audit?action=rollback", "leader").get_json()["items"]
    assert [(i["actor"], i["subject_id"], i["summary"]) for i in items] == [
        ("designer", "two_step", "two_step v3 = v1")]
    assert api.get("/audit?limit=0", "leader").status_code == 400
    assert api.get("/audit", "receiver").status_code == 403
    r = api.get("/export/latest.zip", "leader")
    assert sorted(zipfile.ZipFile(io.BytesIO(r.data)).namelist()) == [
        "EXPORT.txt", "forms/opinion.json", "forms/triage.json", "processes/two_step.bpmn"]
    paths = client_paths(api)
    assert {"/processes/{id}/versions/{version}/diff", "/forms/{id}/versions/{version}/rollback",
            "/export/latest.zip", "/audit"} <= paths


def client_paths(api) -> set[str]:
    return set(api.client.get("/api/v1/openapi.json").get_json()["paths"])


def test_decision_history_shows_rule_rows_and_leaders_roll_back(app, api, database, org):
    text = (BUNDLES / "route.dmn").read_text()
    assert api.deploy({"route.dmn": text}).status_code == 201
    changed = text.replace('<outputEntry id="r1o2"><text>7</text>', '<outputEntry id="r1o2"><text>5</text>')
    assert api.deploy({"route.dmn": changed}).status_code == 201
    leader = client_for(app, "leader")
    html = page(leader, "/studio/history/decision/route")
    text_2 = text_of(html)
    assert re.search(r"修改（1） 第 1 行规则 r1 条件：类别 = \"labour\" 属性 原来 现在 回复天数 7 5", text_2)
    assert "回滚到此版本" in html  # leaders publish decision tables, so they may roll them back
    r = leader.post("/studio/history/decision/route/rollback", data={"csrf_token": csrf(html), "version": "1"})
    assert r.status_code == 302 and r.headers["Location"].endswith("?v=3")
    with database.unit_of_work(write=False) as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "rollback")).all()
        assert (entry.subject_kind, entry.subject_id, entry.actor_id) == ("decision", "route", org.users["leader"].id)
    assert "回复天数 5 7" in text_of(page(leader, "/studio/history/decision/route?v=3"))


def test_pages_in_english(app, api, database, org):
    publish_two_versions(api, database, org)
    designer = client_for(app, "designer")
    designer.set_cookie("lang", "en")
    history_text = text_of(page(designer, "/studio/history/process/two_step"))
    assert "Version history" in history_text and "Changes in version 2 since version 1" in history_text
    assert "User task" in history_text and "Name 分流 分流核实" in history_text
    editor = text_of(page(designer, "/studio/forms/triage.json"))
    assert "Form designer" in editor and "Version 1 published" in editor and "Used by the processes: two_step" in editor
    token = csrf(page(designer, "/studio/forms/triage.json"))
    body = preview(designer, token, '{"type": "object",').get_data(as_text=True)
    assert "not valid JSON: Expecting property name enclosed in double quotes (column 19)" in body
    assert "Audit log" in text_of(page(designer, "/studio/audit"))


@pytest.mark.parametrize("name", ["department_opinion", "triage"])
def test_the_shipped_conditions_read_into_the_list_and_back_unchanged(name):
    from app.forms.schema import branches
    from app.web.forms_editor import apply_rows, rows_from_schema

    root = Path(__file__).resolve().parents[2] / "forms"
    schema = json.loads((root / f"{name}.json").read_text("utf-8"))
    ui = json.loads((root / f"{name}.ui.json").read_text("utf-8"))
    rows = {r.key: r for r in rows_from_schema(schema, ui)}
    if name == "triage":
        assert (rows["hand_down_level"].when, rows["lead_department"].when) == ('route="hand_down"', 'route="joint"')
        assert not rows["hand_down_level"].required and rows["route"].when == ""
    else:
        assert (rows["extension_days"].when, rows["extension_days"].required) == ('action="extension"', True)
    rewritten, _ui, ok = apply_rows(schema, ui, list(rows.values()))
    assert ok and branches(rewritten) == branches(schema) and rewritten["required"] == schema["required"]
