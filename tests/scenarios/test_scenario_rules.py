"""Rules leaders change: a new deadline table changes the deadlines of the next case, never of a running one."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[2]

END = "T23:59:59+08:00"
DMN = "https://www.omg.org/spec/DMN/20191111/MODEL/"


def changed_deadline_rules(accept: int, reply: int) -> bytes:
    """processes/deadline_rules.dmn with new working days in its default rule (what a leader would edit)."""
    root = etree.fromstring((ROOT / "processes" / "deadline_rules.dmn").read_bytes())
    ns = {"dmn": DMN}
    default = root.xpath("//dmn:rule[last()]", namespaces=ns)[0]
    assert [t.text for t in default.xpath("dmn:inputEntry/dmn:text", namespaces=ns)] in ([None], [""], ["-"])
    outputs = [o.get("name") for o in root.xpath("//dmn:output", namespaces=ns)]
    cells = default.xpath("dmn:outputEntry/dmn:text", namespaces=ns)
    cells[outputs.index("dl_accept")].text = str(accept)
    cells[outputs.index("dl_reply")].text = str(reply)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_new_deadline_rules_apply_to_the_next_case_only(scenario):
    sc = scenario
    sc.start_clock_at("2026-09-07T09:00:00+08:00")
    county = {"location": {"org_unit": "county"}, "category": "labour"}
    running = sc.intake("receiver_county", title="案件甲", description="先登记的事项", **county)
    assert sc.case(running)["deadlines"]["accept"] == "2026-09-08" + END

    # a leader publishes new deadline rules: 2 days to accept, 10 to reply
    r = sc.api.deploy({"deadline_rules.dmn": changed_deadline_rules(accept=2, reply=10)})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["decisions"] == [{"id": "deadline_rules", "version": 2}]

    fresh = sc.intake("receiver_county", title="案件乙", description="规则调整后登记的事项", **county)
    assert sc.case(fresh)["deadlines"]["accept"] == "2026-09-09" + END

    for case_no in (running, fresh):
        sc.do("receiver_county", case_no, "intake", {"category": "labour"})
    # the running case evaluates its rules again at triage, still with the version it started on
    old, new = sc.case(running), sc.case(fresh)
    assert old["deadlines"] == {"accept": "2026-09-08" + END, "convene": "2026-09-09" + END,
                                "reply": "2026-09-16" + END, "callback": None}
    # ten working days: 8..11, 14..18 and the make-up Sunday 09-20
    assert new["deadlines"] == {"accept": "2026-09-09" + END, "convene": "2026-09-09" + END,
                                "reply": "2026-09-20" + END, "callback": None}
    assert old["process"] == new["process"] == {"id": "mediation", "version": 1}

    # both run on to the reply with their own deadlines
    for case_no in (running, fresh):
        sc.do("mediator", case_no, "triage", {"route": "joint", "departments": ["hrss"], "services": []})
        sc.do("hrss", case_no, "department_opinion", {"action": "opinion", "text": "已处理"}, "hrss")
    assert sc.task(running, "meeting")["due_at"] == "2026-09-16" + END
    assert sc.task(fresh, "meeting")["due_at"] == "2026-09-20" + END
