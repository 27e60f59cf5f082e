"""The paths of the shipped 127+N flow, each driven through the API as the people who do the work.

All scenarios start on Monday 2026-09-07 09:00 (Asia/Shanghai); working-day deadlines end at 23:59:59
of the n-th working day after the start day. 2026-09-20 (a Sunday) is a make-up working day and
2026-09-25 (Mid-Autumn) a holiday.
"""

from __future__ import annotations

MONDAY = "2026-09-07T09:00:00+08:00"
END = "T23:59:59+08:00"


def county_case(sc, **overrides) -> str:
    """A case filed at the county center's window (goes to triage right after intake)."""
    body = {"title": "工地拖欠工资", "description": "某工地拖欠 12 名农民工三个月工资", "category": "labour",
            "location": {"org_unit": "county", "address": "县城东区工地"}}
    body.update(overrides)
    return sc.intake("receiver_county", **body)


def to_triage(sc, category: str = "labour", **overrides) -> str:
    case_no = county_case(sc, category=category, **overrides)
    sc.do("receiver_county", case_no, "intake", {"category": category})
    assert sc.case(case_no)["stage"] == "triage"
    return case_no


def test_settled_on_the_spot_in_a_village(scenario):
    sc = scenario
    sc.start_clock_at(MONDAY)
    case_no = sc.intake("receiver", title="邻居占道堆放杂物", description="邻居在村道上堆放建材", category="neighbour")

    case = sc.case(case_no)
    assert (case["status"], case["stage"], case["level"]) == ("open", "accept", "village")
    assert case["deadlines"] == {"accept": "2026-09-08" + END, "convene": None, "reply": None, "callback": None}
    assert case["process"] == {"id": "mediation", "version": 1}
    [intake] = sc.tasks(case_no)
    assert (intake["name"], intake["lane"], intake["role"], intake["department"], intake["due_at"]) == \
        ("intake", "receiver", "receiver", None, "2026-09-08" + END)
    form = sc.detail(intake, "receiver")["form"]
    assert form["schema"]["title"] == "受理登记 Intake" and form["schema"]["required"] == ["category"]
    assert form["ui"]["on_the_spot"] == {"ui:widget": "checkbox"}
    # intake is the receiver's work, not a department's
    assert sc.api.post(f"/tasks/{intake['id']}/complete", "hrss", json={"data": {"category": "neighbour"}}
                       ).status_code in (403, 404)

    sc.complete("receiver", intake, {"category": "neighbour", "on_the_spot": True,
                                     "parties": [{"name": "王五"}, {"name": "赵六", "role": "respondent"}]})
    case = sc.case(case_no)
    assert (case["stage"], case["category"], case["level"]) == ("settle", "neighbour", "village")
    assert sc.open_tasks(case_no) == [("settle", None)]
    assert sc.task(case_no, "settle")["due_at"] == "2026-09-08" + END

    sc.do("receiver", case_no, "settle", {"settled": True, "settle_result": "双方同意当天清理，已答复当事人"})
    case = sc.case(case_no)
    assert (case["status"], case["stage"], case["level"], case["overdue"]) == ("closed", "closed", "village", False)
    assert sc.tasks(case_no) == []
    assert sc.completed(case_no) == ["intake", "settle"]
    kinds = [e["kind"] for e in case["timeline"]]
    assert kinds[0] == "case_created" and kinds[-1] == "case_closed"
    assert sc.fired(case_no) == [] and sc.notices(case_no) == []


def test_escalated_village_township_county_and_handed_down(scenario):
    sc = scenario
    sc.start_clock_at(MONDAY)
    case_no = sc.intake("receiver", title="宅基地边界纠纷", description="两户因院墙位置争执", category="neighbour")
    sc.do("receiver", case_no, "intake", {"category": "neighbour", "on_the_spot": False})
    case = sc.case(case_no)
    assert (case["stage"], case["level"]) == ("local", "village")
    local = sc.task(case_no, "local_mediation")
    assert (local["lane"], local["role"], local["due_at"]) == ("mediator", "mediator", "2026-09-08" + END)

    # the village cannot settle it: up to the township
    sc.complete("mediator_village", local, {"local_decision": "escalate", "local_result": "村调解两次未果"})
    case = sc.case(case_no)
    assert (case["stage"], case["level"]) == ("local", "township")
    assert sc.open_tasks(case_no) == [("local_mediation", None)]

    # nor the township: up to the county, where the classification rules propose a plan
    sc.set_clock("2026-09-08T10:00:00+08:00")
    sc.do("mediator_town", case_no, "local_mediation", {"local_decision": "escalate"})
    case = sc.case(case_no)
    assert (case["stage"], case["level"], case["lead_department"], case["departments"]) == \
        ("triage", "county", "justice", ["justice"])
    assert case["deadlines"] == {"accept": "2026-09-08" + END, "convene": "2026-09-10" + END,
                                 "reply": "2026-09-17" + END, "callback": None}
    triage = sc.task(case_no, "triage")
    assert triage["due_at"] == "2026-09-10" + END
    data = sc.detail(triage, "mediator")["data"]
    assert [e["from"] for e in data["escalations"]] == ["village", "township"]
    assert (data["proposed_level"], data["route"], data["hand_down_level"]) == ("village", "hand_down", "village")

    # the county hands it down to the township, which settles it
    sc.complete("mediator", triage, {"route": "hand_down", "hand_down_level": "township"})
    case = sc.case(case_no)
    assert (case["stage"], case["level"]) == ("local", "township")
    sc.do("mediator_town", case_no, "local_mediation", {"local_decision": "resolved",
                                                        "local_result": "镇司法所组织测量，双方认可"})
    case = sc.case(case_no)
    assert (case["status"], case["stage"], case["level"]) == ("closed", "closed", "township")
    assert sc.completed(case_no) == ["intake", "local_mediation", "local_mediation", "triage", "local_mediation"]
    assert sc.tasks(case_no) == []


def test_joint_mediation_with_a_returned_dispatch_and_an_extension(scenario):
    sc = scenario
    sc.start_clock_at(MONDAY)
    case_no = county_case(sc)
    case = sc.case(case_no)
    assert (case["stage"], case["level"]) == ("accept", "county")
    sc.do("receiver_county", case_no, "intake", {"category": "labour", "parties": [{"name": "张三"}]})

    case = sc.case(case_no)
    assert (case["stage"], case["lead_department"], case["departments"]) == \
        ("triage", "hrss", ["hrss", "cmte_labour", "justice"])
    assert case["deadlines"] == {"accept": "2026-09-08" + END, "convene": "2026-09-09" + END,
                                 "reply": "2026-09-16" + END, "callback": None}
    triage = sc.task(case_no, "triage")
    proposal = sc.detail(triage, "mediator")["data"]
    assert (proposal["route"], proposal["services"], proposal["deadline_class"]) == ("joint", ["legal_aid"], "normal")

    # the mediator edits the proposed departments and convenes three, with the day's receiving leader
    sc.complete("mediator", triage, {"route": "joint", "departments": ["hrss", "justice", "housing"], "services": [],
                                     "receiving_leader": "leader"})
    case = sc.case(case_no)
    assert (case["stage"], case["departments"], case["lead_department"]) == \
        ("convene", ["hrss", "justice", "housing"], "hrss")
    assert sc.open_tasks(case_no) == [("department_opinion", "housing"), ("department_opinion", "hrss"),
                                ("department_opinion", "justice")]
    assert {t["due_at"] for t in sc.tasks(case_no)} == {"2026-09-09" + END}
    inbox = sc.api.get("/tasks?scope=group", "hrss").get_json()["items"]
    assert [(t["name"], t["department"]) for t in inbox] == [("department_opinion", "hrss")]
    justice_task = sc.task(case_no, "department_opinion", "justice")
    assert sc.api.post(f"/tasks/{justice_task['id']}/complete", "hrss",
                       json={"data": {"action": "opinion", "text": "x"}}).status_code in (403, 404)

    # justice returns the dispatch; the mediator re-dispatches it to natural resources
    sc.complete("justice", justice_task, {"action": "return", "text": "涉及用地审批，不属本局职责"})
    redispatch = sc.task(case_no, "redispatch")
    assert (redispatch["lane"], redispatch["role"], redispatch["department"]) == ("mediator", "mediator", None)
    assert sc.detail(redispatch, "mediator")["data"]["returns"][0]["reason"] == "涉及用地审批，不属本局职责"
    sc.complete("mediator", redispatch, {"new_department": "natres", "redispatch_note": "改派自然资源局"})
    assert sc.task(case_no, "department_opinion", "natres")["due_at"] == "2026-09-09" + END

    # housing asks for 3 more working days: the receiving leader approves; a second request is refused
    sc.do("housing", case_no, "department_opinion", {"action": "extension", "text": "需现场勘查", "extension_days": 3},
          "housing")
    approval = sc.task(case_no, "approve_extension")
    assert (approval["lane"], approval["role"], approval["assignee"], approval["department"]) == \
        ("leader", "leader", "leader", None)
    assert sc.detail(approval, "leader")["data"]["extension_request"]["days"] == 3
    sc.complete("leader", approval, {"extension_approved": True})
    assert sc.task(case_no, "department_opinion", "housing")["due_at"] == "2026-09-14" + END
    sc.do("housing", case_no, "department_opinion", {"action": "extension", "text": "再延 5 天", "extension_days": 5},
          "housing")
    sc.do("leader", case_no, "approve_extension", {"extension_approved": False, "extension_comment": "请按期反馈"})
    assert sc.task(case_no, "department_opinion", "housing")["due_at"] == "2026-09-14" + END

    # the opinions come in; the case waits for the last one
    sc.do("hrss", case_no, "department_opinion", {"action": "opinion", "text": "已责令限期支付"}, "hrss")
    sc.do("natres", case_no, "department_opinion", {"action": "opinion", "text": "用地手续合法"}, "natres")
    assert sc.case(case_no)["stage"] == "convene"
    sc.set_clock("2026-09-10T09:00:00+08:00")
    sc.do("housing", case_no, "department_opinion", {"action": "opinion", "text": "督促总包单位垫付"}, "housing")

    case = sc.case(case_no)
    assert (case["stage"], case["departments"], case["lead_department"]) == \
        ("mediate", ["hrss", "natres", "housing"], "hrss")
    meeting = sc.task(case_no, "meeting")
    assert meeting["due_at"] == "2026-09-16" + END
    opinions = {o["department"]: o for o in sc.detail(meeting, "mediator")["data"]["opinions"]}
    assert opinions["natres"]["original_department"] == "justice"
    assert [r["department"] for r in opinions["natres"]["returns"]] == ["justice"]
    assert [(e["days"], e["approved"], e["due"]) for e in opinions["housing"]["extensions"]] == \
        [(3, True, "2026-09-14" + END), (5, False, "2026-09-14" + END)]
    assert {o["status"] for o in opinions.values()} == {"opinion"}

    sc.complete("mediator", meeting, {"meeting_time": "2026-09-10T09:30:00+08:00",
                                      "attendees": ["当日接访领导", "人社局", "自然资源局", "住建局"],
                                      "agreement_reached": True, "meeting_minutes": "总包单位 9 月 15 日前垫付工资"})
    assert sc.case(case_no)["stage"] == "reply"
    sc.set_clock("2026-09-11T10:00:00+08:00")
    sc.do("mediator", case_no, "draft_reply", {"reply_text": "工资已由总包单位于 9 月 15 日前垫付", "resolved": True})
    approve = sc.task(case_no, "approve_reply")
    assert (approve["lane"], approve["assignee"], approve["due_at"]) == ("leader", "leader", "2026-09-16" + END)
    sc.complete("leader", approve, {"reply_approved": True})

    case = sc.case(case_no)
    assert case["stage"] == "callback"
    assert case["deadlines"]["callback"] == "2026-09-14" + END  # the working day after the reply (a Friday)
    assert sc.task(case_no, "callback")["due_at"] == "2026-09-14" + END
    sc.set_clock("2026-09-14T10:00:00+08:00")
    sc.do("mediator", case_no, "callback", {"solved": True, "satisfied": True, "callback_note": "已收到工资"})

    case = sc.case(case_no)
    assert (case["status"], case["stage"], case["departments"]) == ("closed", "closed", ["hrss", "natres", "housing"])
    assert sc.tasks(case_no) == []
    done = sc.completed(case_no)
    assert done[:2] == ["intake", "triage"] and done[-4:] == ["meeting", "draft_reply", "approve_reply", "callback"]
    assert sorted(done[2:-4]) == sorted(["department_opinion"] * 6 + ["redispatch"] + ["approve_extension"] * 2)
    created = [(e["task"], e["data"]["department"]) for e in sc.events(case_no, "task_created")
               if e["task"] == "department_opinion"]
    assert sorted(d for _, d in created) == ["housing", "housing", "housing", "hrss", "justice", "natres"]
    # the only timer that came due: the callback's reminder on Friday night, before Monday's deadline
    assert sc.fired(case_no) == ["到期提醒 Reminder"] and sc.notices(case_no) == ["reminder"]
    [fired] = sc.events(case_no, "timer_fired")
    assert fired["data"]["due_at"] == "2026-09-11" + END


def test_legal_aid_in_parallel_with_the_department(scenario):
    sc = scenario
    sc.start_clock_at(MONDAY)
    case_no = to_triage(sc)
    # keep the proposed legal aid, convene only the labour bureau
    sc.do("mediator", case_no, "triage", {"route": "joint", "departments": ["hrss"]})
    assert sc.open_tasks(case_no) == [("department_opinion", "hrss"), ("service_task", "legal_aid")]
    service = sc.task(case_no, "service_task")
    assert (service["lane"], service["role"], service["due_at"]) == ("service", "service", "2026-09-09" + END)
    assert [t["name"] for t in sc.api.get("/tasks?scope=group", "lawyer").get_json()["items"]] == ["service_task"]
    assert sc.api.post(f"/tasks/{service['id']}/complete", "hrss",
                       json={"data": {"service_outcome": "provided"}}).status_code in (403, 404)

    sc.do("hrss", case_no, "department_opinion", {"action": "opinion", "text": "已立案查处"}, "hrss")
    assert sc.case(case_no)["stage"] == "convene"
    assert sc.open_tasks(case_no) == [("service_task", "legal_aid")]
    sc.complete("lawyer", service, {"service_outcome": "provided", "service_note": "指派律师代理劳动仲裁"})

    case = sc.case(case_no)
    assert (case["stage"], case["departments"]) == ("mediate", ["hrss"])
    data = sc.detail(sc.task(case_no, "meeting"), "mediator")["data"]
    assert [(r["service"], r["outcome"]) for r in data["service_results"]] == [("legal_aid", "provided")]
    assert [o["department"] for o in data["opinions"]] == ["hrss"]

    sc.do("mediator", case_no, "meeting", {"agreement_reached": True, "meeting_minutes": "达成分期支付协议"})
    sc.do("mediator", case_no, "draft_reply", {"reply_text": "已达成分期支付协议，法律援助律师跟进", "resolved": True})
    approve = sc.task(case_no, "approve_reply")
    assert approve["assignee"] is None  # no receiving leader named: any leader
    sc.complete("leader", approve, {"reply_approved": True})
    sc.do("mediator", case_no, "callback", {"solved": True, "satisfied": True})
    case = sc.case(case_no)
    assert (case["status"], case["stage"]) == ("closed", "closed")
    assert sc.completed(case_no) == ["intake", "triage", "department_opinion", "service_task", "meeting",
                                     "draft_reply", "approve_reply", "callback"]


def test_unresolved_matter_gets_a_policy_explanation(scenario):
    sc = scenario
    sc.start_clock_at(MONDAY)
    case_no = to_triage(sc, "demolition", title="征地补偿标准争议", description="对征地补偿标准不满")
    case = sc.case(case_no)
    # a complex matter: 15 working days to reply (Mid-Autumn 09-25 is off, Sunday 09-20 is a make-up day)
    assert (case["lead_department"], case["departments"]) == ("natres", ["natres", "housing", "petition", "justice"])
    assert case["deadlines"]["reply"] == "2026-09-28" + END
    sc.do("mediator", case_no, "triage", {"route": "joint", "departments": ["natres", "housing"], "services": []})
    sc.do("natres", case_no, "department_opinion", {"action": "opinion", "text": "补偿按省定标准执行"}, "natres")
    sc.do("housing", case_no, "department_opinion", {"action": "opinion", "text": "房屋评估无误"}, "housing")
    sc.do("mediator", case_no, "meeting", {"agreement_reached": False, "meeting_minutes": "群众要求提高标准，未达成"})

    # the leader sends the first draft back
    sc.do("mediator", case_no, "draft_reply", {"reply_text": "补偿符合标准", "resolved": False,
                                               "unresolved_matters": "补偿标准"})
    sc.do("leader", case_no, "approve_reply", {"reply_approved": False, "approval_comment": "请写明政策依据"})
    draft = sc.task(case_no, "draft_reply")
    assert sc.detail(draft, "mediator")["data"]["approval_comment"] == "请写明政策依据"
    sc.complete("mediator", draft, {"reply_text": "依据省征地补偿办法第十二条，补偿符合标准", "resolved": False,
                                    "unresolved_matters": "补偿标准"})
    sc.do("leader", case_no, "approve_reply", {"reply_approved": True})

    # unresolved: the agent explains the policy in person, within the reply deadline
    case = sc.case(case_no)
    assert case["stage"] == "reply"
    explain = sc.task(case_no, "explain_policy")
    assert (explain["lane"], explain["role"], explain["due_at"]) == ("receiver", "receiver", "2026-09-28" + END)
    sc.complete("receiver_county", explain, {"explained_in_person": True, "explained_at": "2026-09-08T15:00:00+08:00",
                                             "explanation_note": "上门解释征地补偿政策及复议途径",
                                             "citizen_response": "表示理解"})
    case = sc.case(case_no)
    assert (case["stage"], case["deadlines"]["callback"]) == ("callback", "2026-09-08" + END)
    sc.do("mediator", case_no, "callback", {"solved": False, "satisfied": True, "callback_note": "理解政策"})
    case = sc.case(case_no)
    assert (case["status"], case["stage"]) == ("closed", "closed")
    assert sc.completed(case_no)[-6:] == ["draft_reply", "approve_reply", "draft_reply", "approve_reply",
                                          "explain_policy", "callback"]


def test_unsatisfied_callback_reopens_the_case(scenario):
    sc = scenario
    sc.start_clock_at(MONDAY)
    case_no = to_triage(sc)
    sc.do("mediator", case_no, "triage", {"route": "joint", "departments": ["hrss"], "services": []})
    sc.do("hrss", case_no, "department_opinion", {"action": "opinion", "text": "责令支付"}, "hrss")
    sc.do("mediator", case_no, "meeting", {"agreement_reached": True, "meeting_minutes": "约定 9 月 8 日支付"})
    sc.do("mediator", case_no, "draft_reply", {"reply_text": "9 月 8 日支付", "resolved": True})
    sc.do("leader", case_no, "approve_reply", {"reply_approved": True})
    assert sc.case(case_no)["deadlines"]["callback"] == "2026-09-08" + END

    # two days later the wages have not arrived: unsatisfied, another round
    sc.set_clock("2026-09-08T16:00:00+08:00")
    sc.do("mediator", case_no, "callback", {"solved": False, "satisfied": False, "callback_note": "工资仍未到账"})
    case = sc.case(case_no)
    assert (case["status"], case["stage"], case["level"]) == ("open", "triage", "county")
    assert case["deadlines"]["convene"] == "2026-09-10" + END
    assert case["deadlines"]["reply"] == "2026-09-17" + END
    triage = sc.task(case_no, "triage")
    data = sc.detail(triage, "mediator")["data"]
    assert data["round_no"] == 2
    assert [(r["round"], r["solved"], r["satisfied"], r["departments"]) for r in data["rounds"]] == \
        [(1, False, False, ["hrss"])]

    # round two brings in the justice bureau as well
    sc.complete("mediator", triage, {"route": "joint", "departments": ["hrss", "justice"], "services": []})
    assert sc.open_tasks(case_no) == [("department_opinion", "hrss"), ("department_opinion", "justice")]
    assert {t["due_at"] for t in sc.tasks(case_no)} == {"2026-09-10" + END}
    sc.do("hrss", case_no, "department_opinion", {"action": "opinion", "text": "移送劳动监察立案"}, "hrss")
    sc.do("justice", case_no, "department_opinion", {"action": "opinion", "text": "提供法律咨询"}, "justice")
    case = sc.case(case_no)
    assert (case["stage"], case["departments"]) == ("mediate", ["hrss", "justice"])
    meeting_data = sc.detail(sc.task(case_no, "meeting"), "mediator")["data"]
    assert sorted(o["department"] for o in meeting_data["opinions"]) == ["hrss", "justice"]
    sc.do("mediator", case_no, "meeting", {"agreement_reached": True, "meeting_minutes": "当场支付"})
    sc.do("mediator", case_no, "draft_reply", {"reply_text": "工资已当场支付", "resolved": True})
    sc.do("leader", case_no, "approve_reply", {"reply_approved": True})
    assert sc.case(case_no)["deadlines"]["callback"] == "2026-09-09" + END
    sc.do("mediator", case_no, "callback", {"solved": True, "satisfied": True})

    case = sc.case(case_no)
    assert (case["status"], case["stage"], case["departments"]) == ("closed", "closed", ["hrss", "justice"])
    assert sc.completed(case_no).count("triage") == 2
    assert sc.completed(case_no).count("callback") == 2
