"""The task page: the form rendered on the server, errors next to fields, completing, attachments."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.attachments.models import Attachment
from app.attachments.service import MAX_BYTES
from app.config import PROJECT_ROOT
from app.processes.service import read_bundle_dir
from app.tasks.models import HumanTask, TaskStatus
from tests.web.test_inbox import client_for, deploy_two_step, new_case, open_tasks, task_id
from tests.web.test_login import csrf

WIDGETS_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="Defs_widgets" targetNamespace="http://onestop.example/test">
  <bpmn:process id="widgets" name="控件" isExecutable="true">
    <bpmn:laneSet id="LaneSet_1">
      <bpmn:lane id="Lane_mediator" name="mediator">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>prepare</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>fill</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare"/>
    <bpmn:scriptTask id="prepare" name="准备">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>stage = "mediate"
deadlines = {"reply": workdays_after(received_at, 7)}
opinions = [{"department": "hrss", "status": "opinion", "text": "经核实，欠薪属实，建议企业限期支付。",
             "at": received_at},
            {"department": "justice", "status": "returned", "text": "不属于本部门职责。", "at": received_at}]
summary = "登记时的摘要"</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="fill"/>
    <bpmn:userTask id="fill" name="填写 Fill in">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="everything.json"/>
          <spiffworkflow:property name="formUiSchemaFilename" value="everything.ui.json"/>
          <spiffworkflow:property name="dueAt" value="deadlines['reply']"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="fill" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

EVERYTHING = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "title": "全部控件 Every widget", "description": "每种控件各一个。 One of each widget.",
    "required": ["summary", "days", "decision"],
    "properties": {
        "summary": {"type": "string", "title": "摘要 Summary", "maxLength": 100},
        "details": {"type": "string", "title": "详情 Details", "maxLength": 4000},
        "days": {"type": "integer", "title": "天数 Days", "minimum": 1, "maximum": 30},
        "amount": {"type": "number", "title": "金额 Amount"},
        "visit_date": {"type": "string", "format": "date", "title": "走访日期 Visit date"},
        "meeting_time": {"type": "string", "format": "date-time", "title": "会议时间 Meeting time"},
        "decision": {"type": "string", "title": "处理 Decision", "oneOf": [
            {"const": "agree", "title": "同意 Agree"}, {"const": "disagree", "title": "不同意 Disagree"}]},
        "category": {"type": "string", "title": "类别 Category", "enum": list("abcdefg"), "default": "c"},
        "departments": {"type": "array", "title": "部门 Departments", "items": {"type": "string"},
                        "uniqueItems": True},
        "urgent": {"type": "boolean", "title": "紧急 Urgent", "default": False},
        "agreed": {"type": "boolean", "title": "达成协议 Agreed"},
        "parties": {"type": "array", "title": "当事人 Parties", "maxItems": 5, "items": {
            "type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "title": "姓名 Name", "minLength": 1},
                "phone": {"type": "string", "title": "电话 Phone"}}}},
        "evidence": {"type": "array", "title": "证据材料 Evidence", "items": {"type": "string", "format": "data-url"}},
        "photo": {"type": "string", "title": "现场照片 Photo", "format": "data-url"},
    },
}
EVERYTHING_UI = {"ui:order": ["summary", "details", "*"],
                 "details": {"ui:widget": "textarea", "ui:options": {"rows": 3}}, "agreed": {"ui:widget": "radio"},
                 "ui:submitButtonOptions": {"submitText": "办结 Finish"}}

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
DOCX = b"PK\x03\x04" + b"\0" * 64


@pytest.fixture
def widgets(api, database) -> dict[str, Any]:
    """A case waiting on one mediator task whose form has every widget."""
    r = api.deploy({"widgets.bpmn": WIDGETS_BPMN, "everything.json": json.dumps(EVERYTHING, ensure_ascii=False),
                    "everything.ui.json": json.dumps(EVERYTHING_UI, ensure_ascii=False)})
    assert r.status_code == 201, r.get_json()
    r = api.intake(process_id="widgets")
    assert r.status_code == 201, r.get_json()
    case_no = r.get_json()["case_no"]
    return {"case_no": case_no, "task": task_id(database, case_no)}


def field_html(html: str, name: str) -> str:
    """The markup of one field of the task form (its wrapper element)."""
    match = re.search(rf'<(div|fieldset) class="ff[^"]*"[^>]*>(?:(?!<(?:div|fieldset) class="ff).)*?'
                      rf'name="{re.escape(name)}".*?</\1>', html, re.S)
    assert match, name
    return match.group(0)


def submit(client: Any, tid: int, data: dict[str, Any] | list[tuple[str, Any]], **kw: Any) -> Any:
    """Post the task form as a browser would (multipart, encoded in memory: no temporary files left open)."""
    page = client.get(f"/tasks/{tid}").get_data(as_text=True)
    items = list(data.items()) if isinstance(data, dict) else list(data)
    values = MultiDict([("csrf_token", csrf(page))])
    for name, value in items:
        values.add(name, FileStorage(value[0], filename=value[1]) if isinstance(value, tuple) else value)
    boundary, body = encode_multipart(values)
    return client.post(f"/tasks/{tid}", data=body, content_type=f"multipart/form-data; boundary={boundary}", **kw)


def valid(**extra: Any) -> list[tuple[str, Any]]:
    base = {"summary": "现场查看", "details": "双方到场", "days": "5", "amount": "1200.50",
            "visit_date": "2026-01-27", "meeting_time": "2026-01-28T09:30", "decision": "agree", "category": "b",
            "agreed": "true", "parties.__rows": "2", "parties.0.name": "张三", "parties.0.phone": "13800001234",
            "parties.1.name": "", "parties.1.phone": ""}
    base.update(extra)
    return [*base.items(), ("departments", "hrss"), ("departments", "justice"), ("urgent", "true")]


def test_every_widget_renders_with_the_case_beside_it(app, widgets):
    html = client_for(app, "mediator").get(f"/tasks/{widgets['task']}").get_data(as_text=True)
    assert "<h1>填写</h1>" in html and "<h2>全部控件</h2>" in html and "每种控件各一个。" in html
    assert 'enctype="multipart/form-data"' in html
    summary = field_html(html, "summary")
    assert 'type="text"' in summary and 'maxlength="100"' in summary and "required" in summary
    assert 'value="登记时的摘要"' in summary  # pre-filled from the task's data
    assert "<textarea" in field_html(html, "details") and 'rows="3"' in field_html(html, "details")
    days = field_html(html, "days")
    assert 'type="number"' in days and 'min="1"' in days and 'max="30"' in days and 'step="1"' in days
    assert 'step="any"' in field_html(html, "amount")
    assert 'type="date"' in field_html(html, "visit_date")
    assert 'type="datetime-local"' in field_html(html, "meeting_time")
    decision = field_html(html, "decision")
    assert decision.count('type="radio"') == 2 and ">*<" in decision and "同意" in decision
    category = field_html(html, "category")
    assert "<select" in category and '<option value="c" selected' in category
    departments = field_html(html, "departments")
    assert departments.count('type="checkbox"') == 3 and "人社局" in departments and "住建局" in departments
    urgent = field_html(html, "urgent")
    assert 'type="checkbox"' in urgent and "checked" not in urgent
    agreed = field_html(html, "agreed")
    assert '<input type="radio" name="agreed" value="true"' in agreed and "是" in agreed and "否" in agreed
    assert 'name="parties.__rows" value="1"' in html and 'name="parties.0.name"' in html
    assert 'name="_action" value="add:parties"' in html
    assert re.search(r'<input id="f-evidence" name="evidence" type="file"[^>]*multiple', html)
    assert re.search(r'<input id="f-photo" name="photo" type="file"', html)
    assert "办结" in html  # the submit text from the UI hints
    # the case beside the form: summary, deadlines with time left, the opinions gathered so far
    assert widgets["case_no"] in html and "拖欠工资" in html and "张三" in html and "柳树村" in html
    assert "联合调解" in html and "回复时限" in html
    assert "各部门意见" in html and "人社局" in html and "经核实，欠薪属实，建议企业限期支付。" in html
    assert "已退单" in html and "不属于本部门职责。" in html


def test_error_keeps_values_and_shows_the_message_next_to_the_field(app, database, widgets):
    mediator = client_for(app, "mediator")
    r = submit(mediator, widgets["task"], [(k, v) for k, v in valid(days="四十") if k != "decision"])
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "请按提示修改标红的内容后再提交" in html
    days = field_html(html, "days")
    assert "请填写整数" in days and 'value="四十"' in days and 'aria-invalid="true"' in days
    assert "必填" in field_html(html, "decision")
    assert 'value="现场查看"' in field_html(html, "summary")
    assert "<textarea" in field_html(html, "details") and "双方到场" in field_html(html, "details")
    assert 'value="justice" checked' in field_html(html, "departments")
    assert 'value="2026-01-28T09:30"' in field_html(html, "meeting_time")
    assert 'value="张三"' in html and 'name="parties.__rows" value="1"' in html  # the blank row was dropped
    # a value of the right type but out of range: the schema's message, in Chinese
    r = submit(mediator, widgets["task"], valid(days="40"))
    assert r.status_code == 422 and "不能大于 30" in field_html(r.get_data(as_text=True), "days")
    # a row with a phone but no name: the message sits in that row
    r = submit(mediator, widgets["task"], valid(**{"parties.1.phone": "139"}))
    assert r.status_code == 422 and "必填" in field_html(r.get_data(as_text=True), "parties.1.name")
    assert [t.status for t in open_tasks(database, widgets["case_no"])] == [TaskStatus.open]


def test_submit_completes_the_task_and_goes_to_the_case(app, database, widgets):
    mediator = client_for(app, "mediator")
    files = [("photo", (io.BytesIO(PNG), "现场.png")), ("evidence", (io.BytesIO(PDF), "调解协议书.pdf")),
             ("evidence", (io.BytesIO(DOCX), "工资表.docx"))]
    r = submit(mediator, widgets["task"], valid() + files)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    location = r.headers["Location"]
    assert location in (f"/cases/{widgets['case_no']}", "/inbox")
    page = mediator.get(location).get_data(as_text=True)
    assert f"已提交“填写”（{widgets['case_no']}）" in page
    with database.unit_of_work(write=False) as s:
        task = s.get(HumanTask, widgets["task"])
        assert task.status == TaskStatus.completed and task.completed_by_id is not None
        data = task.data
        files_by_name = {a.filename: a for a in s.scalars(select(Attachment))}
    assert data["days"] == 5 and data["amount"] == 1200.5 and data["meeting_time"] == "2026-01-28T09:30:00+08:00"
    assert data["visit_date"] == "2026-01-27" and data["decision"] == "agree" and data["agreed"] is True
    assert data["urgent"] is True and data["departments"] == ["hrss", "justice"]
    assert data["parties"] == [{"name": "张三", "phone": "13800001234"}]
    assert set(files_by_name) == {"现场.png", "调解协议书.pdf", "工资表.docx"}
    assert data["photo"] == str(files_by_name["现场.png"].id)
    assert data["evidence"] == [str(files_by_name["调解协议书.pdf"].id), str(files_by_name["工资表.docx"].id)]
    pdf = files_by_name["调解协议书.pdf"]
    assert pdf.content_type == "application/pdf" and pdf.size == len(PDF) and pdf.task_id == widgets["task"]
    assert len(pdf.sha256) == 64
    # the task is done: the page says so, and a second submission is a conflict
    html = mediator.get(f"/tasks/{widgets['task']}").get_data(as_text=True)
    assert "此任务已办结" in html and 'id="task-form"' not in html
    r = submit(mediator, widgets["task"], valid())
    assert r.status_code == 409 and "此任务已办结" in r.get_data(as_text=True)


def test_attachments_download_with_their_names_and_permissions(app, database, widgets):
    mediator = client_for(app, "mediator")
    files = [("evidence", (io.BytesIO(PDF), "调解协议书.pdf")), ("evidence", (io.BytesIO(DOCX), "工资表.docx")),
             ("evidence", (io.BytesIO("说明".encode()), "说明.txt")), ("photo", (io.BytesIO(PNG), "现场.png"))]
    assert submit(mediator, widgets["task"], valid() + files).status_code == 302
    with database.unit_of_work(write=False) as s:
        ids = {a.filename: a.id for a in s.scalars(select(Attachment))}
    r = mediator.get(f"/attachments/{ids['调解协议书.pdf']}")
    assert r.status_code == 200 and r.data == PDF and r.mimetype == "application/pdf"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("inline") and "filename*=UTF-8''%E8%B0%83%E8%A7%A3" in disposition
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = mediator.get(f"/attachments/{ids['现场.png']}")
    assert r.headers["Content-Disposition"].startswith("inline") and "sandbox" in r.headers["Content-Security-Policy"]
    for name in ("工资表.docx", "说明.txt"):
        r = mediator.get(f"/attachments/{ids[name]}")
        assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment")
        assert "sandbox" in r.headers["Content-Security-Policy"]
    # who may see the case may download; a department it was never dispatched to may not
    assert client_for(app, "receiver").get(f"/attachments/{ids['现场.png']}").status_code == 200
    assert client_for(app, "hrss").get(f"/attachments/{ids['现场.png']}").status_code == 404
    assert client_for(app, "mediator").get("/attachments/999999").status_code == 404
    anonymous = app.test_client().get(f"/attachments/{ids['现场.png']}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    # the case page beside the next task would list them too; here the finished task page does
    html = mediator.get(f"/tasks/{widgets['task']}").get_data(as_text=True)
    assert f'/attachments/{ids["工资表.docx"]}' in html


@pytest.mark.parametrize("name,content,message", [
    ("大文件.pdf", b"%PDF-" + b"0" * MAX_BYTES, "超过 10 MB"),
    ("page.html", b"<html><script>alert(1)</script></html>", "不支持文件"),
    ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "不支持文件"),
    ("假图片.png", b"<html><script>alert(1)</script></html>", "不支持文件"),
    ("空.pdf", b"", "是空的"),
])
def test_uploads_refused_by_size_or_type(app, database, widgets, name, content, message):
    mediator = client_for(app, "mediator")
    r = submit(mediator, widgets["task"], valid() + [("evidence", (io.BytesIO(content), name))])
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert message in field_html(html, "evidence") and name in field_html(html, "evidence")
    assert 'value="现场查看"' in html
    with database.unit_of_work(write=False) as s:
        assert s.scalars(select(Attachment)).all() == []
    assert [t.status for t in open_tasks(database, widgets["case_no"])] == [TaskStatus.open]


def test_uploaded_file_is_kept_when_the_form_has_errors(app, database, widgets):
    mediator = client_for(app, "mediator")
    r = submit(mediator, widgets["task"], [(k, v) for k, v in valid() if k != "summary"] +
               [("photo", (io.BytesIO(PNG), "现场.png"))])
    assert r.status_code == 422
    with database.unit_of_work(write=False) as s:
        photo = s.scalars(select(Attachment)).one()
    html = r.get_data(as_text=True)
    assert f'name="photo.__keep" value="{photo.id}" checked' in field_html(html, "photo")
    r = submit(mediator, widgets["task"], valid() + [("photo.__keep", str(photo.id))])
    assert r.status_code == 302
    with database.unit_of_work(write=False) as s:
        assert s.get(HumanTask, widgets["task"]).data["photo"] == str(photo.id)


def test_add_and_remove_rows_without_javascript(app, widgets):
    mediator = client_for(app, "mediator")
    r = submit(mediator, widgets["task"], valid(**{"parties.1.name": "李四"}) + [("_action", "add:parties")])
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'name="parties.__rows" value="3"' in html
    assert 'value="张三"' in html and 'value="李四"' in html and 'value="现场查看"' in html
    assert "请按提示修改" not in html  # adding a row is not a failed submission
    r = submit(mediator, widgets["task"], valid(**{"parties.1.name": "李四"}) + [("_action", "remove:parties.0")])
    html = r.get_data(as_text=True)
    assert 'name="parties.__rows" value="1"' in html and 'value="张三"' not in html and 'value="李四"' in html
    r = submit(mediator, widgets["task"], valid() + [("_action", "add:parties")], headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'id="task-form"' in r.get_data(as_text=True)


def test_who_may_fill_the_form(app, widgets):
    tid = widgets["task"]
    # a leader sees the case but the task is the mediators'
    leader = client_for(app, "leader")
    html = leader.get(f"/tasks/{tid}").get_data(as_text=True)
    assert "此任务不由你办理" in html and 'id="task-form"' not in html
    r = submit(leader, tid, valid())
    assert r.status_code == 403 and "此任务不由你办理" in r.get_data(as_text=True)
    # claimed by one mediator: the other gets a clear message, not a form
    town = client_for(app, "mediator_town")
    page = town.get("/inbox").get_data(as_text=True)
    town.post(f"/tasks/{tid}/claim", data={"csrf_token": csrf(page)})
    mediator = client_for(app, "mediator")
    html = mediator.get(f"/tasks/{tid}").get_data(as_text=True)
    assert "此任务已由mediator_town认领" in html and 'id="task-form"' not in html and "退回待认领" in html
    r = submit(mediator, tid, valid())
    assert r.status_code == 403
    # departments do not even learn the task exists
    assert client_for(app, "hrss").get(f"/tasks/{tid}").status_code == 404
    assert client_for(app, "hrss").get("/tasks/999999").status_code == 404


def test_case_title_is_text_on_the_task_page(app, api, database):
    deploy_two_step(api)
    case_no = new_case(api, title="<script>alert(1)</script>", description="<img src=x onerror=alert(2)>")
    html = client_for(app, "mediator").get(f"/tasks/{task_id(database, case_no)}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html


def test_department_fills_its_nested_opinion(app, api, database):
    deploy_two_step(api)
    case_no = new_case(api)
    mediator = client_for(app, "mediator")
    triage = task_id(database, case_no)
    html = mediator.get(f"/tasks/{triage}").get_data(as_text=True)
    assert "人社局" in field_html(html, "departments")  # a list of strings named departments: real departments
    r = submit(mediator, triage, [("departments", "hrss"), ("note", "")])
    assert r.status_code == 302
    hrss_task = task_id(database, case_no, "hrss")
    hrss = client_for(app, "hrss")
    r = submit(hrss, hrss_task, {"opinion_item.text": ""})
    assert r.status_code == 422 and "必填" in field_html(r.get_data(as_text=True), "opinion_item.text")
    r = submit(hrss, hrss_task, {"opinion_item.text": "同意牵头办理"})
    assert r.status_code == 302
    with database.unit_of_work(write=False) as s:
        assert s.get(HumanTask, hrss_task).data == {"opinion_item": {"text": "同意牵头办理"}}


def test_shipped_intake_form_end_to_end(app, api, database):
    files = {**read_bundle_dir(PROJECT_ROOT / "processes"), **read_bundle_dir(PROJECT_ROOT / "forms")}
    assert api.deploy(files).status_code == 201
    r = api.intake()
    case_no = r.get_json()["case_no"]
    intake = task_id(database, case_no)
    receiver = client_for(app, "receiver")
    html = receiver.get(f"/tasks/{intake}").get_data(as_text=True)
    assert "受理登记" in html and "<select" in field_html(html, "category")
    assert 'name="parties.0.name"' in html and 'type="checkbox"' in field_html(html, "on_the_spot")
    # the citizen registered at intake is the first party already, name and phone
    assert 'name="parties.__rows" value="1"' in html
    assert 'value="张三"' in field_html(html, "parties.0.name")
    assert 'value="13800001234"' in field_html(html, "parties.0.phone")
    r = submit(receiver, intake, {"category": "labour", "urgency": "normal", "parties.__rows": "1",
                                  "parties.0.name": "张三", "parties.0.role": "applicant", "intake_note": "已核实"})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    with database.unit_of_work(write=False) as s:
        done = s.get(HumanTask, intake)
        assert done.status == TaskStatus.completed
        assert done.data == {"category": "labour", "urgency": "normal", "on_the_spot": False,
                             "parties": [{"name": "张三", "role": "applicant"}], "intake_note": "已核实"}
    assert open_tasks(database, case_no), "the case went on to its next task"


def test_a_form_submitted_restores_the_case_state_once(app, widgets, monkeypatch):
    """The task's data is read from the engine state only for a page shown: a form without errors
    goes straight to the completion (it restored the state twice before, once for the page's data),
    which goes on with the workflow the case's last step kept in this process."""
    from app.engine import runtime

    mediator = client_for(app, "mediator")
    restored: list[int] = []
    load_state = runtime.load_state

    def counting(*args: Any, **kwargs: Any) -> Any:
        restored.append(1)
        return load_state(*args, **kwargs)

    def post(data: list[tuple[str, Any]]) -> Any:
        page = mediator.get(f"/tasks/{widgets['task']}").get_data(as_text=True)
        boundary, body = encode_multipart(MultiDict([("csrf_token", csrf(page)), *data]))
        restored.clear()
        return mediator.post(f"/tasks/{widgets['task']}", data=body,
                             content_type=f"multipart/form-data; boundary={boundary}")

    monkeypatch.setattr(runtime, "load_state", counting)
    r = post(valid(days="many"))  # shown again with its errors, and with the task's data
    assert r.status_code == 422 and len(restored) == 1
    r = post(valid())
    assert r.status_code == 302, r.get_data(as_text=True)[:1000]
    assert restored == []


def test_shipped_forms_take_the_papers_of_a_case(app, api, database):
    """The shipped forms ask for the papers a mediation produces (the parties' materials at intake, the
    agreement at the meeting, the department's sealed opinion); a file over the limit is refused in
    the browser before it is uploaded, and the file kept shows on the case and the next task."""
    files = {**read_bundle_dir(PROJECT_ROOT / "processes"), **read_bundle_dir(PROJECT_ROOT / "forms")}
    assert api.deploy(files).status_code == 201
    for form, field in (("local_mediation", "documents"), ("meeting", "meeting_files"),
                        ("department_opinion", "opinion_files")):
        items = json.loads(files[f"{form}.json"])["properties"][field]["items"]
        assert items == {"type": "string", "format": "data-url"}, form
    case_no = api.intake().get_json()["case_no"]
    intake = task_id(database, case_no)
    receiver = client_for(app, "receiver")
    html = field_html(receiver.get(f"/tasks/{intake}").get_data(as_text=True), "materials")
    assert 'type="file"' in html and "multiple" in html and "当事人提交的材料" in html
    assert f'data-max-bytes="{MAX_BYTES}"' in html and "data-too-large=\"文件“{name}”超过 10 MB。\"" in html
    r = submit(receiver, intake, [("category", "labour"), ("urgency", "normal"), ("parties.__rows", "1"),
                                  ("parties.0.name", "张三"), ("parties.0.role", "applicant"),
                                  ("materials", (io.BytesIO(PDF), "工资欠条.pdf")),
                                  ("materials", (io.BytesIO(PNG), "现场.png"))])
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    with database.unit_of_work(write=False) as s:
        kept = {a.filename: str(a.id) for a in s.scalars(select(Attachment))}
        assert s.get(HumanTask, intake).data["materials"] == [kept["工资欠条.pdf"], kept["现场.png"]]
    page = receiver.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "工资欠条.pdf" in page.split('id="h-files"')[1].split("</section>")[0]
    # the intake's answers in the timeline name the files, not their ids
    timeline = page.split('id="h-timeline"')[1].split("</section>")[0]
    assert "工资欠条.pdf；现场.png" in timeline
    following = open_tasks(database, case_no)[0]
    mediator = client_for(app, "mediator")
    assert "工资欠条.pdf" in mediator.get(f"/tasks/{following.id}").get_data(as_text=True)
