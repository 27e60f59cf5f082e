"""Tests of bundle validation on publish (app.engine.validation)."""

from __future__ import annotations

import enum
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from app.engine.validation import Problem, validate_bundle

BUNDLES = Path(__file__).parent / "bundles"
VALID = BUNDLES / "valid"
BROKEN = BUNDLES / "broken"
CONFORMANCE = Path("/work/shared/conformance/engine")

BPMN = "intake.bpmn"
DMN = "route_dispute.dmn"
FORM = "intake.json"
UI = "intake.ui.json"


def valid_files() -> dict[str, bytes]:
    """Read the valid bundle: one process, one decision, a form and its layout hints."""
    return {path.name: path.read_bytes() for path in sorted(VALID.iterdir())}


def edit(files: dict[str, bytes], name: str, old: str, new: str) -> dict[str, bytes]:
    """Copy a bundle with one exact, single text replacement in one file."""
    text = files[name].decode("utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {name}"
    return {**files, name: text.replace(old, new).encode("utf-8")}


def line_of(data: bytes, needle: str, start_at: str | None = None) -> int:
    """Give the 1-based line of the first `needle` (after `start_at`, when given)."""
    text = data.decode("utf-8")
    offset = text.index(start_at) if start_at else 0
    return text.count("\n", 0, text.index(needle, offset)) + 1


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(f"{p.file}: {p}" for p in problems)
    return problems[0]


def test_the_valid_bundle_has_no_problems() -> None:
    assert validate_bundle(valid_files()) == []


def test_problem_shows_its_line() -> None:
    assert str(Problem("a.bpmn", 12, "broken")) == "line 12: broken"
    assert str(Problem("a.bpmn", None, "broken")) == "broken"


def test_every_problem_has_a_chinese_message() -> None:
    files = edit(valid_files(), BPMN, '"PT2S"', "PT2S")
    files[FORM] = b"{"
    problems = validate_bundle(files)
    assert len(problems) == 2
    assert all(p.message_zh for p in problems)


def test_an_unknown_file_type_is_a_problem() -> None:
    problem = only(validate_bundle({**valid_files(), "notes.txt": b"hello"}))
    assert problem.file == "notes.txt"
    assert problem.line is None
    assert "unknown file type" in problem.message


# --- 1. XML syntax, DOCTYPE, schemas ------------------------------------------------------------------


def test_xml_syntax_error_gives_lxml_line() -> None:
    files = edit(valid_files(), BPMN, "</bpmn:userTask>\n    <bpmn:businessRuleTask", "</bpmn:task>\n"
                 "    <bpmn:businessRuleTask")
    problem = only(validate_bundle(files, known_decisions={"route_dispute"}))
    assert problem.file == BPMN
    assert problem.line == line_of(files[BPMN], "</bpmn:task>")
    assert problem.message.startswith("not well-formed XML")
    assert "mismatch" in problem.message


def test_doctype_and_entities_are_rejected_without_reading_them() -> None:
    data = (BROKEN / "xxe.bpmn").read_bytes()
    problem = only(validate_bundle({"xxe.bpmn": data}))
    assert problem.file == "xxe.bpmn"
    assert problem.line == 2
    assert "DOCTYPE" in problem.message
    assert "root:" not in problem.message  # nothing of /etc/passwd


def test_doctype_is_rejected_even_when_the_rest_parses() -> None:
    data = (VALID / BPMN).read_bytes().replace(
        b'<?xml version="1.0" encoding="UTF-8"?>\n',
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE bpmn:definitions>\n')
    problem = only(validate_bundle({**valid_files(), BPMN: data}))
    assert (problem.file, problem.line) == (BPMN, 2)
    assert "DOCTYPE" in problem.message


def test_bpmn_schema_errors_are_all_reported_with_their_lines() -> None:
    files = edit(valid_files(), BPMN, '<bpmn:userTask id="mediate" name="Mediate">',
                 '<bpmn:userTask id="mediate" name="Mediate" priority="high">')
    files = edit(files, BPMN, '<bpmn:endEvent id="reminded" name="Reminder noted">',
                 '<bpmn:endEvent id="reminded" name="Reminder noted"><bpmn:oops/>')
    problems = validate_bundle(files)
    assert [p.file for p in problems] == [BPMN, BPMN]
    assert [p.line for p in problems] == [line_of(files[BPMN], 'priority="high"'),
                                          line_of(files[BPMN], "<bpmn:oops/>")]
    assert all(p.message.startswith("does not match the BPMN 2.0 schema") for p in problems)
    assert "priority" in problems[0].message
    assert problems[0].element == "mediate"
    assert "bpmn:oops" in problems[1].message  # namespaces shortened


def test_spiff_extensions_are_allowed_by_the_schema_but_checked() -> None:
    files = edit(valid_files(), BPMN, "<spiffworkflow:postScript>", "<spiffworkflow:postScript bad='1'>")
    problem = only(validate_bundle(files))
    assert problem.line == line_of(files[BPMN], "<spiffworkflow:postScript")
    assert "spiffworkflow:postScript" in problem.message


def test_dmn_schema_errors_are_reported() -> None:
    files = edit(valid_files(), DMN, '<rule id="rule_default">', '<rule id="rule_default" weight="3">')
    problems = validate_bundle(files)
    assert problems, "the DMN schema has no 'weight' attribute"
    assert problems[0].file == DMN
    assert problems[0].line == line_of(files[DMN], 'weight="3"')
    assert problems[0].message.startswith("does not match the DMN schema")


def test_a_dmn_namespace_spiffworkflow_does_not_read_is_a_problem() -> None:
    files = edit(valid_files(), DMN, "https://www.omg.org/spec/DMN/20191111/MODEL/",
                 "http://example.com/not-dmn")
    problems = validate_bundle(files)
    assert any(p.file == DMN and p.line == 2 and "DMN 1.3" in p.message for p in problems)


# --- 2. SpiffWorkflow parse ---------------------------------------------------------------------------


def test_spiffworkflow_validation_errors_become_problems() -> None:
    condition = ('\n      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
                 'department == "mediation_center"</bpmn:conditionExpression>\n    ')
    files = edit(valid_files(), BPMN, condition, "")
    problem = only(validate_bundle(files))
    assert problem.file == BPMN
    assert problem.element == "to_mediate"
    assert problem.line == line_of(files[BPMN], '<bpmn:sequenceFlow id="to_mediate"')
    assert "without condition" in problem.message
    assert problem.message.startswith("SpiffWorkflow rejects this")


def test_a_process_without_start_event_is_rejected_by_spiffworkflow() -> None:
    files = edit(valid_files(), BPMN, '<bpmn:startEvent id="start" name="Dispute received">\n'
                 "      <bpmn:outgoing>to_register</bpmn:outgoing>\n    </bpmn:startEvent>\n", "")
    files = edit(files, BPMN, '<bpmn:sequenceFlow id="to_register" sourceRef="start" targetRef="register" />',
                 "")
    files = edit(files, BPMN, "<bpmn:incoming>to_register</bpmn:incoming>\n", "")
    files = edit(files, BPMN, "<bpmn:flowNodeRef>start</bpmn:flowNodeRef>\n", "")
    problem = only(validate_bundle(files))
    assert problem.element == "dispute_intake"
    assert problem.line == line_of(files[BPMN], '<bpmn:process id="dispute_intake"')
    assert "No start event" in problem.message


# --- 3. called processes and decisions ----------------------------------------------------------------

MEDIATE_TASK = """<bpmn:userTask id="mediate" name="Mediate">
      <bpmn:incoming>to_mediate</bpmn:incoming>
      <bpmn:outgoing>to_close</bpmn:outgoing>
    </bpmn:userTask>"""
MEDIATE_CALL = """<bpmn:callActivity id="mediate" name="Mediate" calledElement="mediation_session">
      <bpmn:incoming>to_mediate</bpmn:incoming>
      <bpmn:outgoing>to_close</bpmn:outgoing>
    </bpmn:callActivity>"""
SESSION = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Definitions_session"
                  targetNamespace="http://onestop.example/bpmn">
  <bpmn:process id="mediation_session" isExecutable="true">
    <bpmn:startEvent id="session_start"><bpmn:outgoing>session_flow</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="session_flow" sourceRef="session_start" targetRef="session_end" />
    <bpmn:endEvent id="session_end"><bpmn:incoming>session_flow</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_call_to_a_missing_process_is_a_problem() -> None:
    files = edit(valid_files(), BPMN, MEDIATE_TASK, MEDIATE_CALL)
    problem = only(validate_bundle(files))
    assert (problem.file, problem.element) == (BPMN, "mediate")
    assert problem.line == line_of(files[BPMN], "<bpmn:callActivity")
    assert "'mediation_session'" in problem.message
    assert "neither in this bundle nor already published" in problem.message


def test_a_call_to_a_published_or_bundled_process_is_fine() -> None:
    files = edit(valid_files(), BPMN, MEDIATE_TASK, MEDIATE_CALL)
    assert validate_bundle(files, known_processes={"mediation_session"}) == []
    assert validate_bundle({**files, "session.bpmn": SESSION}) == []


def test_errors_in_a_called_process_are_reported_in_its_own_file() -> None:
    files = edit(valid_files(), BPMN, MEDIATE_TASK, MEDIATE_CALL)
    broken = SESSION.replace(b'<bpmn:startEvent id="session_start"><bpmn:outgoing>session_flow'
                             b"</bpmn:outgoing></bpmn:startEvent>", b"")
    broken = broken.replace(b'<bpmn:sequenceFlow id="session_flow" sourceRef="session_start" '
                            b'targetRef="session_end" />', b"")
    problem = only(validate_bundle({**files, "session.bpmn": broken}))
    assert (problem.file, problem.element, problem.line) == ("session.bpmn", "mediation_session", 4)
    assert problem.message == "SpiffWorkflow rejects this: No start event found"


def test_flows_to_nowhere_and_elements_without_id_are_problems() -> None:
    files = edit(valid_files(), BPMN, 'targetRef="route"', 'targetRef="nowhere"')
    problem = only(validate_bundle(files))
    assert (problem.element, problem.line) == ("to_route", line_of(files[BPMN], 'targetRef="nowhere"'))
    assert "targetRef 'nowhere' is not an element of this process" in problem.message
    files = edit(valid_files(), BPMN, '<bpmn:endEvent id="reminded" name="Reminder noted">',
                 '<bpmn:endEvent name="Reminder noted">')
    problems = validate_bundle(files)
    assert problems[0].line == line_of(files[BPMN], '<bpmn:endEvent name="Reminder noted">')
    assert problems[0].message == "a bpmn:endEvent ('Reminder noted') has no id"
    assert "targetRef 'reminded' is not an element" in problems[1].message


def test_a_call_activity_without_called_element_is_a_problem() -> None:
    uncalled = MEDIATE_CALL.replace(' calledElement="mediation_session"', "")
    files = edit(valid_files(), BPMN, MEDIATE_TASK, uncalled)
    problem = only(validate_bundle(files))
    assert problem.line == line_of(files[BPMN], "<bpmn:callActivity")
    assert "has no calledElement" in problem.message


def test_a_missing_decision_is_a_problem_unless_published() -> None:
    files = edit(valid_files(), BPMN, ">route_dispute<", ">route_v2<")
    problem = only(validate_bundle(files))
    assert (problem.file, problem.element) == (BPMN, "route")
    assert problem.line == line_of(files[BPMN], "<spiffworkflow:calledDecisionId>")
    assert "decision 'route_v2'" in problem.message
    assert validate_bundle(files, known_decisions={"route_v2"}) == []


def test_a_published_decision_may_be_left_out_of_the_bundle() -> None:
    files = valid_files()
    del files[DMN]
    assert validate_bundle(files, known_decisions={"route_dispute"}) == []


def test_spaces_around_a_decision_id_are_a_problem() -> None:
    files = edit(valid_files(), BPMN, ">route_dispute<", "> route_dispute <")
    problem = only(validate_bundle(files))
    assert "remove the spaces" in problem.message


def test_a_business_rule_task_without_decision_is_a_problem() -> None:
    files = edit(valid_files(), BPMN, "<spiffworkflow:calledDecisionId>route_dispute"
                 "</spiffworkflow:calledDecisionId>", "")
    problem = only(validate_bundle(files))
    assert problem.line == line_of(files[BPMN], '<bpmn:businessRuleTask id="route"')
    assert "names no decision" in problem.message


# --- 4. forms -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", [FORM, UI])
def test_a_missing_form_is_a_problem_unless_published(form: str) -> None:
    files = valid_files()
    del files[form]
    problem = only(validate_bundle(files))
    assert (problem.file, problem.element) == (BPMN, "register")
    assert problem.line == line_of(files[BPMN], f'value="{form}"')
    assert f"form '{form}'" in problem.message
    assert validate_bundle(files, known_forms={form}) == []


def test_a_form_that_is_not_json_reports_the_json_line() -> None:
    files = edit(valid_files(), FORM, '"minimum": 0}', '"minimum": 0,}')
    problem = only(validate_bundle(files))
    assert problem.file == FORM
    assert problem.line == line_of(files[FORM], '"minimum": 0,}')
    assert problem.message.startswith("not valid JSON")


def test_a_form_that_is_not_a_json_schema_reports_each_bad_keyword() -> None:
    files = edit(valid_files(), FORM, '"minItems": 2', '"minItems": -2')
    files = edit(files, FORM, '"type": "number"', '"type": "numeric"')
    problems = validate_bundle(files)
    assert [p.file for p in problems] == [FORM, FORM]
    by_path = {p.message.split(" at ")[1].split(":")[0]: p for p in problems}
    assert set(by_path) == {"/properties/parties/minItems", "/properties/amount/type"}
    assert by_path["/properties/parties/minItems"].line == line_of(files[FORM], '"minItems"')
    assert by_path["/properties/amount/type"].line == line_of(files[FORM], '"numeric"')
    assert all("Draft 2020-12" in p.message for p in problems)


def test_a_person_field_must_offer_a_known_role() -> None:
    amount = '"amount": {"type": "number", "minimum": 0},'
    leader = amount + '\n    "leader": {"type": "string", "format": "username", "x-role": "leader"},'
    assert validate_bundle(edit(valid_files(), FORM, amount, leader)) == []
    files = edit(valid_files(), FORM, amount, leader.replace('"leader"}', '"boss"}'))
    problem = only(validate_bundle(files))
    assert (problem.file, problem.line) == (FORM, line_of(files[FORM], '"boss"'))
    assert problem.message == ("x-role at /properties/leader/x-role names no known role ('boss'); use one of receiver, "
                               "mediator, department, service, leader")
    # a field that happens to be called x-role is a field, not the keyword
    named = edit(valid_files(), FORM, '"amount": {', '"x-role": {"type": "string"},\n    "amount": {')
    assert validate_bundle(named) == []


def test_a_form_must_be_an_object() -> None:
    problem = only(validate_bundle({**valid_files(), FORM: b"[1, 2]"}))
    assert (problem.file, problem.line) == (FORM, 1)
    assert "JSON Schema object" in problem.message


def test_a_form_with_a_byte_order_mark_is_a_problem() -> None:
    files = valid_files()
    problem = only(validate_bundle({**files, FORM: b"\xef\xbb\xbf" + files[FORM]}))
    assert "byte-order mark" in problem.message


def test_ui_hint_files_are_only_checked_for_json_syntax() -> None:
    assert validate_bundle({**valid_files(), UI: b'{"ui:order": 5, "type": "nonsense"}'}) == []
    problem = only(validate_bundle({**valid_files(), UI: b'{\n  "ui:order": [\n}'}))
    assert (problem.file, problem.line) == (UI, 3)
    assert validate_bundle({"other-uischema.json": b"{}"}) == []


# --- 5. timers ----------------------------------------------------------------------------------------

TIMER = '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT2S"</bpmn:timeDuration>'


def with_timer(kind: str, expression: str) -> dict[str, bytes]:
    return edit(valid_files(), BPMN, TIMER,
                f'<bpmn:{kind} xsi:type="bpmn:tFormalExpression">{expression}</bpmn:{kind}>')


@pytest.mark.parametrize(("kind", "text"), [
    ("timeDuration", "PT2S"),
    ("timeDuration", "P2D"),
    ("timeCycle", "R3/PT1H"),
    ("timeDate", "2026-01-01T00:00:00"),
    ("timeDate", "2026-01-01"),
])
def test_an_unquoted_iso_timer_says_to_add_quotes(kind: str, text: str) -> None:
    files = with_timer(kind, text)
    problem = only(validate_bundle(files))
    assert (problem.file, problem.element) == (BPMN, "remind")
    assert problem.line == line_of(files[BPMN], f"<bpmn:{kind}")
    assert f'write it with quotes: "{text}"' in problem.message


def test_a_timer_with_a_python_syntax_error_is_a_problem() -> None:
    files = with_timer("timeDate", "workdays_after(created_at, 2")
    problem = only(validate_bundle(files))
    assert problem.line == line_of(files[BPMN], "<bpmn:timeDate")
    assert "not a valid Python expression" in problem.message


@pytest.mark.parametrize(("kind", "expression", "expected"), [
    ("timeDuration", '"2 days"', '"2 days" is not a valid timeDuration'),
    ("timeDuration", '"P"', '"P" is not a valid timeDuration'),
    ("timeDate", '"PT2S"', '"PT2S" is not a valid timeDate'),
    ("timeDate", '"next monday"', '"next monday" is not a valid timeDate'),
    ("timeCycle", '"R3"', '"R3" is not a valid timeCycle'),
    ("timeCycle", '"PT1H"', '"PT1H" is not a valid timeCycle'),
    ("timeDuration", "5", "must give a text"),
])
def test_a_quoted_timer_text_must_be_valid_iso_8601(kind: str, expression: str, expected: str) -> None:
    problem = only(validate_bundle(with_timer(kind, expression)))
    assert expected in problem.message


@pytest.mark.parametrize(("kind", "expression"), [
    ("timeDate", "workdays_after(created_at, 2)"),
    ("timeDate", "due_at"),
    ("timeDate", '"2026-01-01T09:00:00+08:00"'),
    ("timeDuration", "reminder_delay"),
    ("timeDuration", '"P1DT2H"'),
    ("timeDuration", "'PT0.25S'"),
    ("timeDuration", '"P" + str(days) + "D"'),
    ("timeCycle", '"R/PT1H"'),
    ("timeCycle", '"R2/PT0.1S"'),
])
def test_timer_expressions_that_may_work_are_accepted(kind: str, expression: str) -> None:
    assert validate_bundle(with_timer(kind, expression)) == []


def test_an_empty_timer_is_a_problem() -> None:
    problem = only(validate_bundle(with_timer("timeDuration", "")))
    assert "empty timeDuration" in problem.message


# --- 6. scripts and conditions ------------------------------------------------------------------------


def test_a_script_syntax_error_reports_the_line_in_the_file() -> None:
    files = edit(valid_files(), BPMN, 'closed_by = "mediator"', 'closed_by = "mediator')
    problem = only(validate_bundle(files))
    assert (problem.file, problem.element) == (BPMN, "close")
    assert problem.line == line_of(files[BPMN], 'closed_by = "mediator')  # script line 2
    assert "script task 'Record the outcome'" in problem.message
    assert "script line 2" in problem.message


def test_an_indented_script_is_a_problem() -> None:
    files = edit(valid_files(), BPMN, "<bpmn:script>reminder_sent = True</bpmn:script>",
                 "<bpmn:script>\n        reminder_sent = True\n      </bpmn:script>")
    problem = only(validate_bundle(files))
    assert problem.line == line_of(files[BPMN], "        reminder_sent = True")
    assert "indent" in problem.message


def test_an_empty_script_task_is_a_problem() -> None:
    files = edit(valid_files(), BPMN, "<bpmn:script>reminder_sent = True</bpmn:script>", "<bpmn:script />")
    problem = only(validate_bundle(files))
    assert problem.line == line_of(files[BPMN], '<bpmn:scriptTask id="note_reminder"')
    assert "has no script" in problem.message


def test_a_post_script_syntax_error_is_a_problem() -> None:
    files = edit(valid_files(), BPMN, "party_count = len(parties)", "party_count = len(parties")
    problem = only(validate_bundle(files))
    assert (problem.element, problem.line) == ("register", line_of(files[BPMN], "<spiffworkflow:postScript>"))
    assert "postScript of 'Register the dispute'" in problem.message


def test_a_pre_script_syntax_error_is_a_problem() -> None:
    files = edit(valid_files(), BPMN, "<spiffworkflow:calledDecisionId>",
                 "<spiffworkflow:preScript>if x\n  y = 1</spiffworkflow:preScript>\n"
                 "        <spiffworkflow:calledDecisionId>")
    problem = only(validate_bundle(files))
    assert (problem.element, problem.line) == ("route", line_of(files[BPMN], "<spiffworkflow:preScript>"))
    assert "preScript of 'Pick the department'" in problem.message


def test_a_condition_syntax_error_is_a_problem() -> None:
    files = edit(valid_files(), BPMN, 'department == "mediation_center"', 'department = "mediation_center"')
    problem = only(validate_bundle(files))
    assert (problem.file, problem.element) == (BPMN, "to_mediate")
    assert problem.line == line_of(files[BPMN], "<bpmn:conditionExpression")
    assert "condition of flow 'yes'" in problem.message


# --- 7. DMN -------------------------------------------------------------------------------------------


def bad_table_problems() -> tuple[bytes, list[Problem]]:
    data = (BROKEN / "bad_table.dmn").read_bytes()
    return data, validate_bundle({"bad_table.dmn": data})


def cell_problem(problems: list[Problem], element: str) -> Problem:
    return only([p for p in problems if p.element == element])


def test_a_table_without_default_rule_is_a_problem() -> None:
    data, problems = bad_table_problems()
    problem = only([p for p in problems if "no default rule" in p.message])
    assert problem.file == "bad_table.dmn"
    assert problem.line == line_of(data, "<decisionTable")
    assert "decision table 'Bad routing'" in problem.message


def test_a_hit_policy_other_than_unique_or_collect_is_a_problem() -> None:
    data, problems = bad_table_problems()
    problem = only([p for p in problems if "hit policy" in p.message])
    assert problem.line == line_of(data, 'hitPolicy="FIRST"')
    assert "FIRST is not supported" in problem.message


def test_a_cell_that_is_not_python_is_a_problem() -> None:
    data, problems = bad_table_problems()
    problem = cell_problem(problems, "cell_range")
    assert problem.line == line_of(data, "[1..5]")
    assert "not a valid Python expression" in problem.message
    assert "? in [" in problem.message


def test_a_cell_glued_to_the_input_expression_is_a_problem() -> None:
    data, problems = bad_table_problems()
    problem = cell_problem(problems, "cell_glued")
    assert problem.line == line_of(data, 'in ["family"')
    assert 'categoryin ["family", "neighbour"]' in problem.message
    assert 'write ? in ["family", "neighbour"]' in problem.message


def test_unquoted_words_in_cells_suggest_quotes() -> None:
    data, problems = bad_table_problems()
    assert 'write it with quotes: "labour"' in cell_problem(problems, "cell_bare").message
    assert 'write it with quotes: "labour_bureau"' in cell_problem(problems, "out_bare").message
    problem = cell_problem(problems, "out_tuple")
    assert problem.line == line_of(data, "Something is wrong")
    assert 'write it with quotes: "Something is wrong"' in problem.message


def test_a_comma_list_cell_is_a_problem() -> None:
    _, problems = bad_table_problems()
    assert 'write ? in ["a", "b"]' in cell_problem(problems, "cell_tuple").message


def test_a_cell_of_spaces_is_a_problem() -> None:
    _, problems = bad_table_problems()
    assert "leave it empty or write - exactly" in cell_problem(problems, "cell_space").message


def test_valid_cells_and_input_names_are_accepted() -> None:
    _, problems = bad_table_problems()
    assert {"cell_fine", "out_fine", "cell_name", "out_name"}.isdisjoint(p.element for p in problems)
    assert len(problems) == 9  # hit policy, default rule and the 7 cells above


def test_a_default_rule_that_is_not_last_is_a_problem() -> None:
    files = valid_files()
    text = files[DMN].decode("utf-8")
    start, end = text.index('      <rule id="rule_default">'), text.index("    </decisionTable>")
    default = text[start:end]
    first = '      <rule id="rule_labour">'
    moved = text[:start].replace(first, default + first) + text[end:]
    files[DMN] = moved.encode("utf-8")
    problem = only(validate_bundle(files))
    assert (problem.file, problem.element) == (DMN, "rule_default")
    assert problem.line == line_of(files[DMN], '<rule id="rule_default">')
    assert "rule 1 matches everything" in problem.message


def test_collect_aggregation_is_a_problem() -> None:
    files = edit(valid_files(), DMN, 'hitPolicy="UNIQUE"', 'hitPolicy="COLLECT" aggregation="SUM"')
    problem = only(validate_bundle(files))
    assert "aggregation SUM is ignored" in problem.message


def test_several_decisions_in_one_file_is_a_problem() -> None:
    files = valid_files()
    text = files[DMN].decode("utf-8")
    decision = text[text.index("  <decision "):text.index("</definitions>")]
    second = decision.replace('id="route_dispute"', 'id="route_again"').replace('id="', 'id="x_')
    files[DMN] = text.replace("</definitions>", second + "</definitions>").encode("utf-8")
    problems = validate_bundle(files)
    problem = only([p for p in problems if "decisions" in p.message])
    assert problem.line == line_of(files[DMN], 'id="x_route_again"')
    assert "reads only the first" in problem.message


# --- 8. lanes -----------------------------------------------------------------------------------------


def test_a_lane_that_names_no_role_is_a_problem() -> None:
    files = edit(valid_files(), BPMN, 'name="mediator"', 'name="judge"')
    problem = only(validate_bundle(files))
    assert (problem.file, problem.element) == (BPMN, "Lane_mediator")
    assert problem.line == line_of(files[BPMN], 'name="judge"')
    assert problem.message == ("lane 'judge' names no known role; use one of receiver, mediator, department, "
                               "service, leader")


class Role(enum.StrEnum):
    receiver = "receiver"
    judge = "judge"


def test_roles_may_be_given_as_strings_or_enum_members() -> None:
    files = edit(valid_files(), BPMN, 'name="mediator"', 'name="judge"')
    assert validate_bundle(files, roles=("receiver", "judge")) == []
    assert validate_bundle(files, roles=list(Role)) == []
    problem = only(validate_bundle(valid_files(), roles=list(Role)))
    assert "lane 'mediator'" in problem.message
    assert "use one of receiver, judge" in problem.message


def test_a_lane_without_name_is_a_problem() -> None:
    files = edit(valid_files(), BPMN, ' name="mediator">', ">")
    problem = only(validate_bundle(files))
    assert problem.element == "Lane_mediator"
    assert "has no name" in problem.message


# --- 9. duplicates ------------------------------------------------------------------------------------


def test_a_process_id_defined_twice_is_a_problem() -> None:
    files = valid_files()
    files["copy.bpmn"] = files[BPMN]
    problem = only(validate_bundle(files))
    assert problem.file == "copy.bpmn"
    assert problem.line == line_of(files[BPMN], '<bpmn:process id="dispute_intake"')
    assert problem.message == ("process id 'dispute_intake' is defined twice in the bundle "
                               f"(also in {BPMN}, line {problem.line})")


def test_a_decision_id_defined_twice_is_a_problem() -> None:
    files = valid_files()
    files["copy.dmn"] = files[DMN]
    problem = only(validate_bundle(files))
    assert problem.file == "copy.dmn"
    assert problem.line == 3
    assert "decision id 'route_dispute' is defined twice" in problem.message


# --- many problems at once ----------------------------------------------------------------------------


def test_every_problem_of_every_file_is_reported() -> None:
    files = edit(valid_files(), BPMN, '"PT2S"', "PT2S")
    files = edit(files, BPMN, 'name="mediator"', 'name="judge"')
    files = edit(files, BPMN, "party_count = len(parties)", "party_count = len(parties")
    files = edit(files, DMN, "<text>\"labour\"</text>", "<text>labour</text>")
    files = edit(files, FORM, '"minItems": 2', '"minItems": "two"')
    files["broken.bpmn"] = b"<bpmn:definitions>\n<unclosed>"
    files["bad_table.dmn"] = (BROKEN / "bad_table.dmn").read_bytes()
    files["readme.md"] = b"# bundle"
    problems = validate_bundle(files)
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.file] = counts.get(problem.file, 0) + 1
    assert counts == {BPMN: 3, DMN: 1, FORM: 1, "broken.bpmn": 1, "bad_table.dmn": 9, "readme.md": 1}
    order = list(files)
    assert [order.index(p.file) for p in problems] == sorted(order.index(p.file) for p in problems)
    assert [p.line for p in problems if p.file == BPMN] == sorted(p.line for p in problems if p.file == BPMN)


# --- real-world files ---------------------------------------------------------------------------------

#: files that are run together with others (see the conformance MANIFEST)
COMPANIONS = {
    "business_rule_task.bpmn": ["business_rules.dmn"],
    "call_activity_end_event.bpmn": ["call_activity_call_activity.bpmn"],
    "call_activity_with_error.bpmn": ["call_activity_call_activity.bpmn"],
}
CORPUS_ROLES = ("A", "B", "C", "Tester", "Test", "Supervisor", "Manager", "Operator")
#: what OneStop's rules (not SpiffWorkflow) object to in these files
EXPECTED = {
    "collect_hit.dmn": ["has no default rule"],
    "unique_hit.dmn": ["has no default rule"],
    "timer-cycle-start.bpmn": ["lane 'Lane_1qb9sc3' has no name"],
}


CORPUS = sorted(p.name for p in CONFORMANCE.iterdir()) if CONFORMANCE.is_dir() else []


@pytest.mark.skipif(not CORPUS, reason="the shared conformance corpus is not here")
@pytest.mark.parametrize("name", CORPUS)
def test_no_false_problems_on_the_conformance_corpus(name: str) -> None:
    files = {n: (CONFORMANCE / n).read_bytes() for n in [name, *COMPANIONS.get(name, [])]}
    problems = validate_bundle(files, roles=CORPUS_ROLES, known_forms={"pizza_form.json"})
    expected = EXPECTED.get(name, [])
    assert len(problems) == len(expected), "\n".join(f"{p.file}: {p}" for p in problems)
    for problem, text in zip(problems, expected, strict=True):
        assert text in problem.message


@pytest.mark.skipif(not CORPUS, reason="the shared conformance corpus is not here")
def test_the_corpus_as_one_bundle_reports_its_clashing_ids() -> None:
    files = {p.name: p.read_bytes() for p in sorted(CONFORMANCE.iterdir())}
    problems = validate_bundle(files, roles=CORPUS_ROLES, known_forms={"pizza_form.json"})
    twice = [p for p in problems if "is defined twice" in p.message]
    assert {p.element for p in twice} == {"main", "timer", "event_test", "Decision_ExclusiveAMCheck"}
    others = [p for p in problems if p not in twice]
    assert all("lane" in p.message or "default rule" in p.message for p in others), others


@pytest.mark.skipif(not CORPUS, reason="the shared conformance corpus is not here")
def test_a_missing_form_in_a_real_file_is_reported() -> None:
    name = "user_task_variable.bpmn"
    problems = validate_bundle({name: (CONFORMANCE / name).read_bytes()})
    assert problems and all("form 'pizza_form.json'" in p.message for p in problems)


def test_a_comment_inside_a_decision_table_is_a_problem() -> None:
    rule = '      <rule id="rule_family">'
    files = edit(valid_files(), DMN, rule, "      <!-- families -->\n" + rule)
    problem = only(validate_bundle(files))
    assert (problem.file, problem.line) == (DMN, line_of(files[DMN], "<!-- families -->"))
    assert "XML comments" in problem.message


def test_validation_can_run_in_several_threads_at_once() -> None:
    files = edit(valid_files(), BPMN, 'name="mediator"', 'name="judge"')
    files = edit(files, BPMN, '<bpmn:userTask id="mediate" name="Mediate">',
                 '<bpmn:userTask id="mediate" name="Mediate" priority="high">')
    files = edit(files, DMN, '<rule id="rule_default">', '<rule id="rule_default" weight="3">')
    expected = validate_bundle(files)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: validate_bundle(files), range(32)))
    assert all(result == expected for result in results)


def one_rule_table(input_cell: str, output_cell: str) -> bytes:
    """Build a DMN file with one rule (cells as given) and a default rule; input expression `category`."""
    cells = [escape(input_cell), escape(output_cell)]
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="urn:test">
  <decision id="pick" name="Pick">
    <decisionTable id="table">
      <input id="in">
        <inputExpression id="in_x" typeRef="string"><text>category</text></inputExpression>
      </input>
      <output id="out" name="result" typeRef="string" />
      <rule id="r1">
        <inputEntry id="r1_in"><text>{cells[0]}</text></inputEntry>
        <outputEntry id="r1_out"><text>{cells[1]}</text></outputEntry>
      </rule>
      <rule id="r2">
        <inputEntry id="r2_in"><text>-</text></inputEntry>
        <outputEntry id="r2_out"><text>"other"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
""".encode()


@pytest.mark.parametrize("cell", ['"labour"', "> 3", "1 <= ? <= 5", '? in ["a", "b"]', ' in ["a", "b"]',
                                  '!= "x"', '== "b"', "category", "True", "5", '"what?"',
                                  '("a", "b")', 'category.startswith("lab")'])
def test_input_cells_spiffworkflow_evaluates_are_accepted(cell: str) -> None:
    assert validate_bundle({"t.dmn": one_rule_table(cell, '"x"')}) == []


@pytest.mark.parametrize(("cell", "expected"), [
    ("labour", 'write it with quotes: "labour"'),
    ("劳动", 'write it with quotes: "劳动"'),
    ("family matters", 'write it with quotes: "family matters"'),
    ('in ["a", "b"]', 'write ? in ["a", "b"] instead'),
    ('not in ["a"]', 'write ? not in ["a"] instead'),
    ('"a", "b"', 'write ? in ["a", "b"]'),
    ("[1..5]", "1 <= ? <= 5"),
    (" - ", "write - exactly"),
    ("? >", "not a valid Python expression"),
])
def test_input_cells_that_fail_at_run_time_are_problems(cell: str, expected: str) -> None:
    data = one_rule_table(cell, '"x"')
    problem = only(validate_bundle({"t.dmn": data}))
    assert (problem.file, problem.element, problem.line) == ("t.dmn", "r1_in", line_of(data, '"r1_in"'))
    assert "decision table 'Pick', rule 1, input 'category'" in problem.message
    assert expected in problem.message


@pytest.mark.parametrize("cell", ['"x"', "1", "category", "None", 'category + "x"', '["a", "b"]', ""])
def test_output_cells_that_are_python_are_accepted(cell: str) -> None:
    assert validate_bundle({"t.dmn": one_rule_table('"a"', cell)}) == []


@pytest.mark.parametrize(("cell", "expected"), [
    ("Y", 'write it with quotes: "Y"'),
    ("劳动仲裁委员会", 'write it with quotes: "劳动仲裁委员会"'),
    ("Elmer Fudd", 'write it with quotes: "Elmer Fudd"'),
    ("劳动（仲裁）", 'write it with quotes: "劳动（仲裁）"'),
    ("x = 1", "not a valid Python expression"),
])
def test_output_cells_that_fail_at_run_time_are_problems(cell: str, expected: str) -> None:
    problem = only(validate_bundle({"t.dmn": one_rule_table('"a"', cell)}))
    assert (problem.element, problem.file) == ("r1_out", "t.dmn")
    assert "output 'result'" in problem.message
    assert expected in problem.message


def test_a_doctype_inside_a_comment_is_fine() -> None:
    files = edit(valid_files(), BPMN, "<bpmn:process ", "<!-- no <!DOCTYPE here -->\n  <bpmn:process ")
    assert validate_bundle(files) == []
