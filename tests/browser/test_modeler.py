"""The process modeler in a real browser: add a step, bind its form in our properties panel, publish.

Cases filed afterwards walk through the new step; a case filed before stays on the old version.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import login

_numbers = itertools.count(1)

NOTE_FORM = {"type": "object", "title": "核实 Check",
             "properties": {"note": {"type": "string", "title": "备注 Note"}}}

# a small process of our own, with a diagram: start → prepare (script) → check (receiver) → end
DEMO = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  id="sd_definitions" targetNamespace="http://onestop.example/test">
  <bpmn:collaboration id="sd_collaboration">
    <bpmn:participant id="sd_participant" name="浏览器测试 Studio demo" processRef="studio_demo"/>
  </bpmn:collaboration>
  <bpmn:process id="studio_demo" name="浏览器测试 Studio demo" isExecutable="true">
    <bpmn:laneSet id="sd_lanes">
      <bpmn:lane id="sd_lane_receiver" name="receiver">
        <bpmn:flowNodeRef>sd_start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>prepare</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>check</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>sd_end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="sd_start"><bpmn:outgoing>f_start</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="prepare" name="准备 Prepare">
      <bpmn:incoming>f_start</bpmn:incoming><bpmn:outgoing>f_prepare</bpmn:outgoing>
      <bpmn:script>stage = "accept"</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="check" name="核实 Check">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="studio_note.json"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f_prepare</bpmn:incoming><bpmn:outgoing>f_check</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="sd_end"><bpmn:incoming>f_check</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f_start" sourceRef="sd_start" targetRef="prepare"/>
    <bpmn:sequenceFlow id="f_prepare" sourceRef="prepare" targetRef="check"/>
    <bpmn:sequenceFlow id="f_check" sourceRef="check" targetRef="sd_end"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="sd_diagram">
    <bpmndi:BPMNPlane id="sd_plane" bpmnElement="sd_collaboration">
      <bpmndi:BPMNShape id="sd_participant_di" bpmnElement="sd_participant" isHorizontal="true">
        <dc:Bounds x="100" y="80" width="760" height="200"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="sd_lane_receiver_di" bpmnElement="sd_lane_receiver" isHorizontal="true">
        <dc:Bounds x="130" y="80" width="730" height="200"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="sd_start_di" bpmnElement="sd_start"><dc:Bounds x="182" y="162" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="prepare_di" bpmnElement="prepare"><dc:Bounds x="260" y="140" width="100" height="80"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="check_di" bpmnElement="check"><dc:Bounds x="410" y="140" width="100" height="80"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="sd_end_di" bpmnElement="sd_end"><dc:Bounds x="572" y="162" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f_start_di" bpmnElement="f_start">
        <di:waypoint x="218" y="180"/><di:waypoint x="260" y="180"/></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f_prepare_di" bpmnElement="f_prepare">
        <di:waypoint x="360" y="180"/><di:waypoint x="410" y="180"/></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f_check_di" bpmnElement="f_check">
        <di:waypoint x="510" y="180"/><di:waypoint x="572" y="180"/></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


class Api:
    """The JSON API through the page's request context, as named demo users."""

    def __init__(self, page: Any) -> None:
        self.request = page.request
        self.tokens: dict[str, str] = {}

    def headers(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            r = self.request.post("/api/v1/auth/login", data={"username": user, "password": "onestop-demo"})
            assert r.status == 200, r.text()
            self.tokens[user] = r.json()["token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, path: str, user: str) -> Any:
        r = self.request.get(f"/api/v1{path}", headers=self.headers(user))
        assert r.status == 200, r.text()
        return r.json()

    def post(self, path: str, user: str, body: dict[str, Any]) -> Any:
        r = self.request.post(f"/api/v1{path}", headers=self.headers(user), data=body)
        assert r.status in (200, 201), r.text()
        return r.json()

    def deploy(self, name: str, content: str) -> Any:
        r = self.request.post("/api/v1/processes", headers=self.headers("designer"), multipart={
            "files": {"name": name, "mimeType": "application/octet-stream", "buffer": content.encode("utf-8")}})
        assert r.status == 201, r.text()
        return r.json()

    def file_case(self) -> str:
        body = {"title": f"浏览器测试：设计器新环节 {next(_numbers)}", "description": "验证新版本流程。",
                "channel": "walk_in", "citizen": {"name": "钱多多", "phone": "13800003579"},
                "location": {"org_unit": "liushu"}, "process_id": "studio_demo"}
        return self.post("/cases", "receiver", body)["case_no"]

    def open_tasks(self, case_no: str) -> list[dict[str, Any]]:
        return self.get(f"/tasks?scope=group&case_no={case_no}", "receiver")["items"]

    def complete_only_task(self, case_no: str, name: str) -> None:
        [task] = self.open_tasks(case_no)
        assert task["name"] == name
        self.post(f"/tasks/{task['id']}/complete", "receiver", {"data": {"note": "已核实"}})


def test_add_a_step_bind_its_form_and_publish(desktop: Any, shot: Any) -> None:
    api = Api(desktop)
    api.deploy("studio_note.json", json.dumps(NOTE_FORM, ensure_ascii=False))
    assert api.deploy("studio_demo.bpmn", DEMO)["version"] == 1
    before = api.file_case()
    assert [t["name"] for t in api.open_tasks(before)] == ["check"]

    login(desktop, "designer")
    desktop.wait_for_url(lambda url: "/login" not in url)
    desktop.goto("/studio")
    expect(desktop.locator("a[href='/studio/processes/studio_demo']").first).to_be_visible()
    desktop.goto("/studio/processes/studio_demo")
    desktop.wait_for_selector("body[data-modeler-ready='1']")
    expect(desktop.locator("#modeler-status")).to_have_text("当前显示已发布版本")

    # the palette drag is impractical headless: make room and add the task with bpmn-js' own commands
    desktop.evaluate("""() => {
        const m = window.onestopModeler.modeler;
        const modeling = m.get('modeling'), registry = m.get('elementRegistry');
        modeling.removeElements([registry.get('f_check')]);
        modeling.moveElements([registry.get('sd_end')], { x: 200, y: 0 });
        const task = modeling.createShape({ type: 'bpmn:UserTask' }, { x: 650, y: 180 },
                                          registry.get('sd_participant'));
        modeling.updateProperties(task, { id: 'review' });
        modeling.connect(registry.get('check'), task);
        modeling.connect(task, registry.get('sd_end'));
        m.get('selection').select(task);
    }""")
    # everything else through our properties panel
    expect(desktop.locator("#modeler-status")).to_have_text("有未保存的修改")
    expect(desktop.locator("#prop-id")).to_have_value("review")
    desktop.fill("#prop-name", "复核 Review")
    desktop.locator("#prop-name").press("Tab")
    desktop.select_option("#prop-form", "studio_note.json")
    expect(desktop.locator("#prop-form")).to_have_value("studio_note.json")
    desktop.fill("#prop-due-at", 'workdays_after(now(), 2)')
    desktop.locator("#prop-due-at").press("Tab")
    expect(desktop.locator("#prop-due-at")).to_have_value("workdays_after(now(), 2)")
    # the lane of the new task offers the roles, and shows the role it is named after
    lane = desktop.evaluate("""() => {
        const m = window.onestopModeler.modeler;
        m.get('selection').select(m.get('elementRegistry').get('sd_lane_receiver'));
        return document.getElementById('prop-lane').value;
    }""")
    assert lane == "receiver"
    assert desktop.locator("#prop-lane option").all_inner_texts()[1:] == [
        "receiver · 受理员", "mediator · 调解员", "department · 部门", "service · 服务机构", "leader · 领导"]
    desktop.evaluate("""() => {
        const m = window.onestopModeler.modeler;
        m.get('selection').select(m.get('elementRegistry').get('review'));
    }""")
    expect(desktop.locator("#prop-form")).to_have_value("studio_note.json")
    shot(desktop, "studio-modeler-desktop")

    desktop.click("#modeler-publish")
    desktop.fill("#publish-note", "核实后增加复核环节")
    desktop.click("#publish-confirm")
    expect(desktop.locator("#modeler-status")).to_have_text("已发布：studio_demo v2", timeout=15000)
    expect(desktop.locator("#modeler-problems")).to_be_hidden()

    versions = api.get("/processes/studio_demo/versions", "designer")["items"]
    assert [v["version"] for v in versions] == [2, 1]

    after = api.file_case()
    assert api.get(f"/cases/{before}", "receiver")["process"] == {"id": "studio_demo", "version": 1}
    assert api.get(f"/cases/{after}", "receiver")["process"] == {"id": "studio_demo", "version": 2}

    # the new case walks through the new step, with the form bound in the panel and its due time
    api.complete_only_task(after, "check")
    [review] = api.open_tasks(after)
    assert (review["name"], review["form"], review["lane"]) == ("review", "studio_note.json", "receiver")
    assert review["due_at"] is not None
    api.complete_only_task(after, "review")
    assert api.get(f"/cases/{after}", "receiver")["status"] == "closed"
    # the case filed before ends after its one step, as version 1 says
    api.complete_only_task(before, "check")
    assert api.open_tasks(before) == []
    assert api.get(f"/cases/{before}", "receiver")["status"] == "closed"


def test_publishing_problems_are_listed_with_file_and_line(desktop: Any) -> None:
    login(desktop, "designer")
    desktop.wait_for_url(lambda url: "/login" not in url)
    desktop.goto("/studio/processes/supervision")
    desktop.wait_for_selector("body[data-modeler-ready='1']")
    # an unquoted duration on a new timer: the panel warns, and publishing refuses it with its line
    desktop.evaluate("""() => {
        const m = window.onestopModeler.modeler;
        const modeling = m.get('modeling'), registry = m.get('elementRegistry');
        const timer = modeling.createShape({ type: 'bpmn:IntermediateCatchEvent',
                                             eventDefinitionType: 'bpmn:TimerEventDefinition' },
                                           { x: 640, y: 250 }, registry.get('supervision_participant'));
        modeling.updateProperties(timer, { id: 'wait_a_bit' });
        m.get('selection').select(timer);
    }""")
    desktop.select_option("#prop-timer-kind", "timeDuration")
    desktop.fill("#prop-timer", "PT2S")
    desktop.locator("#prop-timer").press("Tab")
    expect(desktop.locator("#timer-unquoted")).to_contain_text('应写成 "PT2S"')
    desktop.click("#modeler-publish")
    desktop.click("#publish-confirm")
    problems = desktop.locator("#modeler-problems li")
    expect(desktop.locator("#modeler-problems")).to_be_visible(timeout=15000)
    texts = problems.all_inner_texts()
    assert any(t.startswith("supervision.bpmn · 第 ") and "PT2S" in t and "缺少引号" in t for t in texts), texts
    # the working-day helper writes a correct expression instead
    desktop.evaluate("""() => {
        const m = window.onestopModeler.modeler;
        m.get('selection').select(m.get('elementRegistry').get('wait_a_bit'));
    }""")
    desktop.fill("#prop-wd-days", "3")
    desktop.click("#prop-wd-apply")
    expect(desktop.locator("#prop-timer")).to_have_value("workdays_after(now(), 3)")
    expect(desktop.locator("#prop-timer-kind")).to_have_value("timeDate")
    expect(desktop.locator("#timer-unquoted")).to_have_count(0)
    # nothing was published; throw the draft away
    desktop.once("dialog", lambda dialog: dialog.accept())
    with desktop.expect_navigation():
        desktop.click("#modeler-discard")
    desktop.wait_for_selector("body[data-modeler-ready='1']")
    expect(desktop.locator("#modeler-status")).to_have_text("当前显示已发布版本")
    assert desktop.evaluate(
        "() => !!window.onestopModeler.modeler.get('elementRegistry').get('wait_a_bit')") is False


def test_a_leader_reads_the_process_without_editing(desktop: Any) -> None:
    login(desktop, "leader")
    desktop.wait_for_url(lambda url: "/login" not in url)
    desktop.goto("/studio/processes/mediation")
    desktop.wait_for_selector("body[data-modeler-ready='1']")
    expect(desktop.locator("#modeler-save")).to_have_count(0)
    expect(desktop.locator("#modeler-panel")).to_contain_text("只读")
    desktop.evaluate("""() => window.onestopModeler.reveal(
        window.onestopModeler.modeler.get('elementRegistry').get('dispatch_departments'))""")
    expect(desktop.locator("#prop-called-element")).to_have_value("department_work")
    expect(desktop.locator("#prop-collection")).to_have_value("departments")
    expect(desktop.locator("#prop-element-variable")).to_have_value("department")
    expect(desktop.locator("#prop-collection")).to_be_disabled()
