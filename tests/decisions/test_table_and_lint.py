"""The table model <-> DMN XML, the engine's evaluation and the lint, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.decisions.table import read_table, table_from_json, write_table
from app.engine.decisions import evaluate_decision
from app.engine.dmnlint import lint_dmn
from app.errors import InvalidInput

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
DEADLINES = (PROCESSES / "deadline_rules.dmn").read_text(encoding="utf-8")
CATEGORIES = ["labour", "land", "family", "neighbour", "property", "medical", "traffic", "demolition", "consumer",
              "environment", "other"]
KNOWN = {"category": CATEGORIES, "urgency": ["normal", "urgent"], "deadline_class": ["urgent", "normal", "complex"],
         "sv_stage": ["accept", "convene", "reply", "callback"], "dl_unit": ["workdays", "hours"]}


@pytest.mark.parametrize("name", ["deadline_rules", "classification", "supervision_rules"])
def test_an_unchanged_table_writes_the_file_back_byte_for_byte(name):
    text = (PROCESSES / f"{name}.dmn").read_text(encoding="utf-8")
    _header, table = read_table(text, name)
    assert write_table(text, name, table_from_json(table.to_json())) == text


def test_new_rules_and_columns_get_fresh_ids_and_the_rest_is_kept():
    _header, table = read_table(DEADLINES, "deadline_rules")
    data = table.to_json()
    data["hit_policy"] = "COLLECT"
    data["rules"].insert(2, {"inputs": ['"simple"'], "outputs": ['"workdays"', "1", "1", "3", "1"],
                             "description": "简易事项"})
    data["inputs"].append({"label": "紧急程度", "expression": "urgency", "type": "string"})
    for rule in data["rules"]:
        rule["inputs"].append("")
    text = write_table(DEADLINES, "deadline_rules", table_from_json(data))
    header, again = read_table(text, "deadline_rules")
    assert header.name == "期限规则 Deadline rules"
    assert again.hit_policy == "COLLECT"
    assert [r.id for r in again.rules] == ["deadline_rules_r1", "deadline_rules_r2", "deadline_rules_r4",
                                           "deadline_rules_r3"]
    assert [c.id for c in again.inputs] == ["deadline_rules_in0", "deadline_rules_in1"]
    assert again.rules[2].inputs == ['"simple"', ""] and again.rules[2].description == "简易事项"
    assert '<inputEntry id="deadline_rules_r4_i0">' in text and '<inputEntry id="deadline_rules_r1_i1">' in text
    assert '<dmndi:DMNShape id="deadline_rules_shape" dmnElementRef="deadline_rules">' in text
    assert "<description>各期限类别的受理" in text
    assert evaluate_decision(text, {"deadline_class": "simple", "urgency": "normal"}).outputs["dl_reply"] == [3, 7]


def test_only_the_named_decision_of_a_file_changes():
    second = DEADLINES.replace('id="deadline_rules"', 'id="other_rules"').replace("deadline_rules_", "other_rules_")
    start = second.index("<decision ")
    end = second.index("</decision>") + len("</decision>")
    both = DEADLINES.replace("</decision>", "</decision>\n  " + second[start:end], 1)
    _header, table = read_table(both, "other_rules")
    table.rules[0].outputs[1] = "9"
    text = write_table(both, "other_rules", table)
    assert read_table(text, "other_rules")[1].rules[0].outputs[1] == "9"
    assert read_table(text, "deadline_rules")[1].rules[0].outputs[1] == "2"


def test_bad_json_names_every_field():
    with pytest.raises(InvalidInput) as err:
        table_from_json({"hit_policy": "ANY", "inputs": [{"expression": ""}], "outputs": [{"name": "x"}, {"name": "x"}],
                         "rules": [{"id": "1bad", "inputs": [1.5], "outputs": ["1"]}, "nope"]})
    assert err.value.fields == {
        "table.hit_policy": "must be UNIQUE (the first matching rule) or COLLECT (every matching rule)",
        "table.inputs[0].expression": "an input needs an expression, e.g. the variable name category",
        "table.outputs[1].name": "output x is already set by output 1",
        "table.rules[0].id": "an id starts with a letter or _ and holds letters, digits, _, - and .",
        "table.rules[0].outputs": "rule 1 needs exactly 2 output cells",
        "table.rules[1]": "must be an object {id, inputs, outputs, description}",
    }
    with pytest.raises(InvalidInput) as err:
        table_from_json([])
    assert list(err.value.fields) == ["table"]


def test_evaluation_tells_which_rules_match():
    result = evaluate_decision(DEADLINES, {"deadline_class": "urgent"})
    assert result.outputs == {"dl_unit": "hours", "dl_accept": 2, "dl_convene": 24, "dl_reply": 72, "dl_callback": 24}
    assert (result.matched, result.matching, result.error) == ((0,), (0, 2), None)
    missing = evaluate_decision(DEADLINES, {})
    assert missing.outputs == {} and missing.error is not None
    assert (missing.error.rule, missing.error.kind, missing.error.column) == (None, "input", 0)
    assert missing.error.message.startswith("NameError: name 'deadline_class' is not defined")


def _issues(text: str, name: str = "deadline_rules") -> list[tuple[str, str, int | None, str | None, int | None]]:
    found = lint_dmn(f"{name}.dmn", text, name, known_values=KNOWN)
    return [(i.level, i.code, i.rule, i.kind, i.column) for i in found]


def test_the_shipped_tables_have_no_errors_or_warnings():
    for name in ("deadline_rules", "classification", "supervision_rules"):
        text = (PROCESSES / f"{name}.dmn").read_text(encoding="utf-8")
        assert [i for i in _issues(text, name) if i[0] != "info"] == []
    text = (PROCESSES / "supervision_rules.dmn").read_text(encoding="utf-8")
    [overlap] = lint_dmn("supervision_rules.dmn", text, "supervision_rules", known_values=KNOWN)
    assert (overlap.level, overlap.code, overlap.rule) == ("info", "overlap", 1)
    assert overlap.message == ('rules 1 and 2 both match sv_stage="reply", dl_unit="hours"; under hit policy UNIQUE '
                               "the first (rule 1) applies")


def test_lint_finds_typos_shadowed_rules_and_unmatched_values():
    typo = DEADLINES.replace("<text>\"complex\"</text>", "<text>\"complx\"</text>")
    assert _issues(typo) == [("warning", "unknown_value", 1, "input", 0)]

    shadowed = DEADLINES.replace("<text>\"complex\"</text>", "<text>? in [\"urgent\"]</text>")
    [issue] = lint_dmn("deadline_rules.dmn", shadowed, "deadline_rules", known_values=KNOWN)
    assert issue.message == "rule 2 never applies: every input it matches is matched first by rule 1"

    no_default = DEADLINES.replace('<inputEntry id="deadline_rules_r3_i0">\n          <text></text>',
                                   '<inputEntry id="deadline_rules_r3_i0">\n          <text>"complex"</text>')
    found = lint_dmn("deadline_rules.dmn", no_default, "deadline_rules", known_values=KNOWN)
    assert [(i.level, i.code, i.rule) for i in found] == [("error", "validation", None), ("error", "no_match", None),
                                                          ("warning", "shadowed", 2)]
    assert found[1].message_zh == '没有规则匹配 deadline_class="normal"：输出将没有值；请补充规则或默认规则'

    unquoted = DEADLINES.replace("<text>\"complex\"</text>", "<text>complex</text>")
    assert _issues(unquoted) == [("error", "validation", 1, "input", 0)]

    failing = DEADLINES.replace("<text>\"complex\"</text>", "<text>&gt; 3</text>")
    [issue] = lint_dmn("deadline_rules.dmn", failing, "deadline_rules", known_values=KNOWN)
    assert (issue.level, issue.code, issue.rule, issue.kind, issue.column) == ("error", "runtime", 1, "input", 0)
    assert issue.message == ("rule 2, input '期限类别 Deadline class': the cell fails when deadline_class is "
                             '"normal"; the case would stop with an incident')
