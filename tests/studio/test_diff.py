"""Readable diffs of small hand-made versions of a BPMN diagram, a form, its UI hints and a decision table."""

from __future__ import annotations

import json

from app.studio.diff import Change, Detail, diff_bpmn, diff_dmn, diff_files, diff_form, diff_ui, text_diff

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="x">
  <bpmn:process id="p" name="流程" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="lane_r" name="receiver"><bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>fill</bpmn:flowNodeRef>{receiver_extra}</bpmn:lane>
      <bpmn:lane id="lane_m" name="mediator"><bpmn:flowNodeRef>end</bpmn:flowNodeRef>{mediator_extra}</bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fill"/>
    <bpmn:userTask id="fill" name="{fill_name}">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="{form}"/>
      </spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="late" attachedToRef="fill" cancelActivity="false">
      <bpmn:timerEventDefinition id="td"><bpmn:timeDuration>{timer}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    {middle}
    <bpmn:endEvent id="end"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="di"><bpmndi:BPMNPlane id="plane" bpmnElement="p">
    <bpmndi:BPMNShape id="fill_di" bpmnElement="fill"><dc:Bounds x="{x}" y="10" width="100" height="80"/>
    </bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""

OLD = dict(fill_name="填写", form="a.json", timer='"PT2H"', receiver_extra="", mediator_extra="", x="100",
           middle='<bpmn:sequenceFlow id="f2" sourceRef="fill" targetRef="end"/>'
                  '<bpmn:exclusiveGateway id="gw" name="是否受理" default="f2"/>')
NEW = dict(OLD, fill_name="登记", form="b.json", timer='"PT4H"', receiver_extra="",
           mediator_extra="<bpmn:flowNodeRef>check</bpmn:flowNodeRef>",
           middle='<bpmn:sequenceFlow id="f2" sourceRef="fill" targetRef="check"/>'
                  '<bpmn:scriptTask id="check" name="核对"><bpmn:script>ok = True</bpmn:script></bpmn:scriptTask>'
                  '<bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="end">'
                  '<bpmn:conditionExpression>ok</bpmn:conditionExpression></bpmn:sequenceFlow>')


def test_bpmn_elements_added_removed_and_changed():
    changes = diff_bpmn(BPMN.format(**OLD), BPMN.format(**NEW))
    assert changes == [
        Change("added", "element", "check", "scriptTask", "核对", "p",
               (Detail("lane", "", "mediator"), Detail("script", "", "ok = True"))),
        Change("added", "element", "f3", "sequenceFlow", "", "p",
               (Detail("condition", "", "ok"), Detail("source", "", "check"), Detail("target", "", "end"))),
        Change("removed", "element", "gw", "exclusiveGateway", "是否受理", "p", (Detail("default", "f2", ""),)),
        Change("changed", "element", "fill", "userTask", "登记", "p",
               (Detail("name", "填写", "登记"), Detail("form", "a.json", "b.json"))),
        Change("changed", "element", "late", "boundaryEvent", "", "p",
               (Detail("timer", 'timeDuration: "PT2H"', 'timeDuration: "PT4H"'),)),
        Change("changed", "element", "f2", "sequenceFlow", "", "p", (Detail("target", "end", "check"),)),
    ]


def test_a_moved_lane_and_a_layout_only_change():
    moved = dict(OLD, receiver_extra="", mediator_extra="<bpmn:flowNodeRef>fill</bpmn:flowNodeRef>")
    old_text = BPMN.format(**OLD).replace("<bpmn:flowNodeRef>fill</bpmn:flowNodeRef>", "")
    # fill was in no lane before, and is in the mediator lane now
    assert diff_bpmn(old_text, BPMN.format(**moved).replace(
        "<bpmn:flowNodeRef>start</bpmn:flowNodeRef>\n        <bpmn:flowNodeRef>fill</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>start</bpmn:flowNodeRef>")) == [
        Change("changed", "element", "fill", "userTask", "填写", "p", (Detail("lane", "", "mediator"),))]
    layout = diff_files("p.bpmn", BPMN.format(**OLD), BPMN.format(**dict(OLD, x="300")))
    assert (layout.changes, layout.cosmetic, layout.layout_only) == ([], True, True)
    assert '-    <bpmndi:BPMNShape id="fill_di" bpmnElement="fill"><dc:Bounds x="100"' in layout.text
    assert '+    <bpmndi:BPMNShape id="fill_di" bpmnElement="fill"><dc:Bounds x="300"' in layout.text


FORM = {
    "title": "受理 Intake", "type": "object", "required": ["category"],
    "properties": {
        "category": {"type": "string", "title": "类别", "enum": ["labour", "land", "family"]},
        "note": {"type": "string", "title": "备注", "maxLength": 200},
        "parties": {"type": "array", "title": "当事人",
                    "items": {"type": "object", "properties": {"name": {"type": "string", "title": "姓名"}}}},
        "old": {"type": "boolean", "title": "旧字段"},
    },
}


def test_form_fields_added_removed_and_changed():
    new = json.loads(json.dumps(FORM))
    new["title"] = "受理登记 Intake"
    new["required"] = ["category", "note"]
    new["properties"]["category"]["enum"] = ["labour", "family", "consumer"]
    new["properties"]["note"]["type"] = "integer"
    new["properties"]["note"]["title"] = "件数"
    new["properties"]["parties"]["items"]["properties"]["phone"] = {"type": "string", "title": "电话"}
    del new["properties"]["old"]
    new["properties"]["urgent"] = {"type": "boolean", "title": "紧急", "default": False}
    changes = diff_form(json.dumps(FORM), json.dumps(new, indent=2))
    assert changes == [
        Change("changed", "form", "", "object", "受理登记 Intake", "",
               (Detail("title", "受理 Intake", "受理登记 Intake"),)),
        Change("added", "field", "parties[].phone", "string", "电话", "", (Detail("required", "", "false"),)),
        Change("added", "field", "urgent", "boolean", "紧急", "",
               (Detail("required", "", "false"), Detail("default", "", "false"))),
        Change("removed", "field", "old", "boolean", "旧字段", "", (Detail("required", "false", ""),)),
        Change("changed", "field", "category", "string", "类别", "",
               (Detail("options", "labour\nland\nfamily", "labour\nfamily\nconsumer", added=("consumer",),
                       removed=("land",)),)),
        Change("changed", "field", "note", "integer", "件数", "",
               (Detail("type", "string", "integer"), Detail("name", "备注", "件数"),
                Detail("required", "false", "true"))),
    ]


def test_form_choices_from_one_of_and_invalid_json():
    old = {"type": "object", "properties": {"c": {"type": "string", "oneOf": [{"const": "a", "title": "甲"}]}}}
    new = {"type": "object", "properties": {"c": {"type": "string", "oneOf": [{"const": "a", "title": "甲"},
                                                                            {"const": "b", "title": "乙"}]}}}
    assert diff_form(json.dumps(old), json.dumps(new)) == [
        Change("changed", "field", "c", "string", "", "",
               (Detail("options", "a (甲)", "a (甲)\nb (乙)", added=("b (乙)",)),))]
    broken = diff_files("f.json", json.dumps(old), '{"type": "object",\n "properties": {')
    assert broken.changes == [] and broken.error.startswith("the new version is not valid JSON: line 2, column 17")
    assert '+ "properties": {' in broken.text


def test_ui_hints():
    old = {"ui:order": ["a", "b", "*"], "a": {"ui:widget": "textarea"}, "b": {"ui:widget": "radio"}}
    new = {"ui:order": ["b", "a", "*"], "a": {"ui:widget": "textarea", "ui:options": {"rows": 6}},
           "ui:submitButtonOptions": {"submitText": "提交"}}
    assert diff_ui(json.dumps(old), json.dumps(new)) == [
        Change("added", "hint", "ui:submitButtonOptions", "option", "", "",
               (Detail("value", "", '{"submitText": "提交"}'),)),
        Change("removed", "hint", "b", "field", "", "", (Detail("ui:widget", "radio", ""),)),
        Change("changed", "hint", "ui:order", "order", "", "", (Detail("value", "a, b, *", "b, a, *"),)),
        Change("changed", "hint", "a", "field", "", "", (Detail("ui:options", "", '{"rows": 6}'),)),
    ]
    assert diff_files("x.ui.json", "{}", "{}").kind == "ui"


DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="defs" name="d" namespace="x">
  <decision id="dl" name="期限">
    <decisionTable id="t" hitPolicy="{policy}">
      <input id="in1" label="类别"><inputExpression id="e1" typeRef="string"><text>kind</text></inputExpression></input>
      {extra_input}
      <output id="out1" label="天数" name="days" typeRef="number"/>
      {rules}
    </decisionTable>
  </decision>
</definitions>
"""


def rule(rid: str, *cells: str, description: str = "") -> str:
    inputs, output = cells[:-1], cells[-1]
    text = "".join(f"<inputEntry id='{rid}i{n}'><text>{c}</text></inputEntry>" for n, c in enumerate(inputs))
    note = f"<description>{description}</description>" if description else ""
    return f"<rule id='{rid}'>{note}{text}<outputEntry id='{rid}o'><text>{output}</text></outputEntry></rule>"


def test_dmn_rules_and_columns():
    old = DMN.format(policy="UNIQUE", extra_input="", rules=rule("r1", '"urgent"', "2") + rule("r2", '"labour"', "5")
                     + rule("r3", "-", "7", description="默认"))
    new = DMN.format(policy="FIRST",
                     extra_input='<input id="in2" label="紧急"><inputExpression id="e2" typeRef="boolean">'
                                 '<text>urgent</text></inputExpression></input>',
                     rules=rule("r1", '"urgent"', "-", "3") + rule("r4", '"land"', "-", "10")
                     + rule("r3", "-", "-", "7", description="默认规则"))
    assert diff_dmn(old, new) == [
        Change("changed", "decision", "dl", "decision", "期限", "dl", (Detail("hit_policy", "UNIQUE", "FIRST"),)),
        Change("added", "input", "in2", "input", "紧急", "dl",
               (Detail("label", "", "紧急"), Detail("expression", "", "urgent"), Detail("type_ref", "", "boolean"))),
        Change("added", "rule", "r4", "rule", "2", "dl",
               (Detail("类别", "", '"land"'), Detail("紧急", "", "-"), Detail("天数", "", "10"))),
        Change("removed", "rule", "r2", "rule", "2", "dl", (Detail("类别", '"labour"', ""), Detail("天数", "5", ""))),
        Change("changed", "rule", "r1", "rule", "1", "dl",
               (Detail("紧急", "", "-"), Detail("天数", "2", "3")), (("类别", '"urgent"'), ("紧急", "-"))),
        Change("changed", "rule", "r3", "rule", "3", "dl",
               (Detail("紧急", "", "-"), Detail("description", "默认", "默认规则")), (("类别", "-"), ("紧急", "-"))),
    ]


def test_first_version_equal_versions_and_text_diff():
    first = diff_files("a.dmn", None, "<x/>")
    assert first.first and first.changes == [] and first.text == ""
    same = diff_files("a.json", '{"a": 1}', '{"a": 1}')
    assert (same.changes, same.cosmetic, same.text) == ([], False, "")
    unified = text_diff("a\nb\n", "a\nc\n", old_label="v1", new_label="v2")
    assert unified == "--- v1\n+++ v2\n@@ -1,2 +1,2 @@\n a\n-b\n+c"
