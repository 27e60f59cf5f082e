"""Drafts: saved without publishing, published as one validated bundle, audited, refused to the wrong role."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.audit.service import list_entries
from app.errors import Forbidden, NotFound
from app.processes.models import ProcessVersion
from app.processes.service import BundleInvalid, latest_process_version
from app.studio import drafts

BUNDLES = Path(__file__).parent.parent / "api" / "bundles"


def test_draft_then_publish_creates_a_version_and_an_audit_entry(api, database, org):
    api.deploy({n: (BUNDLES / n).read_text() for n in ("two_step.bpmn", "triage.json", "opinion.json")})
    designer = org.users["designer"]
    with database.unit_of_work() as s:
        text, is_draft = drafts.current_text(s, "two_step.bpmn")
        assert not is_draft
        drafts.save_draft(s, s.merge(designer), "two_step.bpmn", text.replace('name="分流"', 'name="分流二"'))
    with database.unit_of_work() as s:
        text, is_draft = drafts.current_text(s, "two_step.bpmn")
        assert is_draft and "分流二" in text
        assert latest_process_version(s, "two_step").version == 1  # a draft publishes nothing
        result = drafts.publish(s, s.merge(designer), ["two_step.bpmn"], note="rename the triage step")
        assert [pv.version for pv in result.processes] == [2]
    with database.unit_of_work() as s:
        assert drafts.list_drafts(s) == []
        entry, user = list_entries(s)[0]  # newest first; the API deploy above is audited too
        assert (entry.action, user.username, entry.summary) == ("publish", "designer", "two_step v2")
        assert entry.detail["note"] == "rename the triage step"


def test_a_broken_draft_publishes_nothing_and_stays(api, database, org):
    designer = org.users["designer"]
    with database.unit_of_work() as s:
        drafts.save_draft(s, s.merge(designer), "broken.bpmn", "<bpmn:definitions")
    with pytest.raises(BundleInvalid) as err, database.unit_of_work() as s:
        drafts.publish(s, s.merge(designer), ["broken.bpmn"])
    assert "broken.bpmn" in err.value.fields
    with database.unit_of_work() as s:
        assert [d.filename for d in drafts.list_drafts(s)] == ["broken.bpmn"]
        assert s.scalars(select(ProcessVersion)).all() == []
        assert list_entries(s) == []


def test_roles(database, org):
    with database.unit_of_work() as s:
        leader, designer, mediator = (s.merge(org.users[u]) for u in ("leader", "designer", "mediator"))
        assert drafts.can_edit(leader, "deadline_rules.dmn") and not drafts.can_edit(leader, "mediation.bpmn")
        assert drafts.can_edit(designer, "mediation.bpmn") and drafts.can_edit(designer, "intake.json")
        assert not drafts.can_edit(mediator, "deadline_rules.dmn")
        with pytest.raises(Forbidden):
            drafts.save_draft(s, leader, "mediation.bpmn", "<x/>")
        with pytest.raises(NotFound):
            drafts.current_text(s, "nothing.bpmn")


def test_publishing_through_the_api_and_the_cli_is_audited(api, database, config, tmp_path, monkeypatch, capsys):
    from app.cli import main

    assert api.deploy({n: (BUNDLES / n).read_text() for n in ("two_step.bpmn", "triage.json", "opinion.json")}
                      ).status_code == 201
    monkeypatch.setenv("ONESTOP_DATABASE_URL", config.database_url)
    (tmp_path / "two_step.bpmn").write_text((BUNDLES / "two_step.bpmn").read_text())
    assert main(["deploy", str(tmp_path), "--note", "from git"]) == 0
    with database.unit_of_work() as s:
        entries = list_entries(s)
        assert [(e.action, e.summary, e.detail["note"], u.username if u else None) for e, u in entries] == [
            ("publish", "two_step v2", "from git", None),
            ("publish", "two_step v1, opinion.json v1, triage.json v1", "", "designer")]


ENGINE_BUNDLES = Path(__file__).parent.parent / "engine" / "bundles" / "valid"


def _line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def test_a_bundle_with_every_kind_of_problem_lists_each_with_file_and_line(database, org):
    """Bad XML, a missing form, an unquoted timer, an unknown role and a table without a default rule,
    in one publish: every problem is named with its file and line, and nothing is published."""
    bpmn = ((ENGINE_BUNDLES / "intake.bpmn").read_text()
            .replace('<bpmn:lane id="Lane_mediator" name="mediator">', '<bpmn:lane id="Lane_mediator" name="nobody">')
            .replace('value="intake.json"', 'value="missing.json"')
            .replace('>"PT2S"<', ">PT2S<"))
    dmn = (ENGINE_BUNDLES / "route_dispute.dmn").read_text()
    dmn = dmn[:dmn.index('      <rule id="rule_default">')] + "    </decisionTable>\n  </decision>\n</definitions>\n"
    files = {"intake.bpmn": bpmn, "intake.ui.json": (ENGINE_BUNDLES / "intake.ui.json").read_text(),
             "route_dispute.dmn": dmn, "other.bpmn": "<a>\n<b>\n</a>"}
    designer = org.users["designer"]
    with database.unit_of_work() as s:
        for name, text in files.items():
            drafts.save_draft(s, s.merge(designer), name, text)
    with pytest.raises(BundleInvalid) as err, database.unit_of_work() as s:
        drafts.publish(s, s.merge(designer), list(files))
    located = {(p.file, p.line) for p in err.value.problems}
    assert ("other.bpmn", 3) in located  # the XML parser's line
    for needle in ('name="nobody"', 'value="missing.json"', ">PT2S<"):
        assert ("intake.bpmn", _line_of(bpmn, needle)) in located, (needle, err.value.problems)
    [table] = [p for p in err.value.problems if p.file == "route_dispute.dmn"]
    assert table.line is not None and "default" in table.message
    with database.unit_of_work() as s:
        assert sorted(d.filename for d in drafts.list_drafts(s)) == sorted(files)  # the drafts stay
        assert s.scalars(select(ProcessVersion)).all() == []
        assert list_entries(s) == []
