"""The supervision ladder (督办): reminder before the deadline, a leader's supervision task when it
passes, a criticism notice when the stage is more than 5 working days late -- counted on China's
working-day calendar of 2026: Sunday 09-20 is a make-up working day, 09-25 (Mid-Autumn) and
10-01..10-07 (National Day) are holidays, Saturday 10-10 is a make-up working day.
"""

from __future__ import annotations

END = "T23:59:59+08:00"
REMINDER, OVERDUE, CRITICISM = "到期提醒 Reminder", "逾期督办 Overdue", "通报批评 Criticism"


def test_accept_ladder_across_mid_autumn_and_a_make_up_sunday(scenario):
    sc = scenario
    sc.start_clock_at("2026-09-18T17:00:00+08:00")  # Friday afternoon
    case_no = sc.intake("receiver", title="村道积水", description="雨后村道积水无法通行")
    case = sc.case(case_no)
    # one working day after Friday is the make-up working Sunday 09-20
    assert case["deadlines"]["accept"] == "2026-09-20" + END
    assert sc.task(case_no, "intake")["due_at"] == "2026-09-20" + END

    assert sc.set_clock("2026-09-18T23:00:00+08:00") == []
    assert sc.set_clock("2026-09-19T00:30:00+08:00") == [REMINDER]  # end of Friday, the working day before
    assert sc.notices(case_no) == ["reminder"]
    assert sc.open_tasks(case_no) == [("intake", None)]

    assert sc.set_clock("2026-09-20T23:30:00+08:00") == []  # Sunday, but a working day: still in time
    assert sc.case(case_no)["overdue"] is False
    assert sc.set_clock("2026-09-21T08:00:00+08:00") == [OVERDUE]
    case = sc.case(case_no)
    assert case["overdue"] is True
    assert sc.open_tasks(case_no) == [("intake", None), ("supervise", None)]
    supervise = sc.task(case_no, "supervise")
    assert (supervise["lane"], supervise["role"], supervise["due_at"]) == ("leader", "leader", "2026-09-22" + END)
    detail = sc.detail(supervise, "leader")
    assert detail["form"]["schema"]["required"] == ["instruction"]
    assert detail["data"]["supervised_stage"] == "accept"
    assert supervise["about"] == {"deadline": "accept"}  # what the inbox and dashboard say it is about
    assert sc.api.get("/tasks?scope=group", "leader").get_json()["items"][0]["name"] == "supervise"
    sc.complete("leader", supervise, {"instruction": "请网格员今日内完成受理"})
    assert sc.open_tasks(case_no) == [("intake", None)]

    # late working days: 21, 22, 23, 24 (25 Mid-Autumn, 26-27 weekend), 28 -> the notice after the 28th
    assert sc.set_clock("2026-09-28T12:00:00+08:00") == []
    assert sc.set_clock("2026-09-29T00:30:00+08:00") == [CRITICISM]
    assert sc.notices(case_no) == ["reminder", "criticism"]
    fired = {e["message"]: e["data"]["due_at"] for e in sc.events(case_no, "timer_fired")}
    assert fired == {REMINDER: "2026-09-18" + END, OVERDUE: "2026-09-20" + END, CRITICISM: "2026-09-28" + END}

    # the matter is finally accepted: the ladder is over, the case goes on
    sc.do("receiver", case_no, "intake", {"category": "other"})
    assert sc.case(case_no)["stage"] == "local"
    assert sc.set_clock("2026-09-29T08:00:00+08:00") == []
    assert sc.completed(case_no) == ["supervise", "intake"]


def test_convene_ladder_across_national_day(scenario):
    sc = scenario
    sc.start_clock_at("2026-09-29T10:00:00+08:00")  # Tuesday before National Day
    case_no = sc.intake("receiver_county", title="工资纠纷", description="拖欠工资", category="labour",
                        location={"org_unit": "county"})
    sc.do("receiver_county", case_no, "intake", {"category": "labour"})
    case = sc.case(case_no)
    # convene in 2 working days: 09-30, then 10-08 after the holiday; reply in 7: ... 10-10 (Saturday), ... 10-14
    assert case["deadlines"] == {"accept": "2026-09-30" + END, "convene": "2026-10-08" + END,
                                 "reply": "2026-10-14" + END, "callback": None}
    assert sc.task(case_no, "triage")["due_at"] == "2026-10-08" + END

    assert sc.set_clock("2026-09-30T12:00:00+08:00") == []
    assert sc.set_clock("2026-10-01T00:30:00+08:00") == [REMINDER]  # end of 09-30, the last working day before
    assert sc.set_clock("2026-10-07T23:00:00+08:00") == []  # the holiday
    assert sc.set_clock("2026-10-08T12:00:00+08:00") == []
    assert sc.set_clock("2026-10-09T00:30:00+08:00") == [OVERDUE]
    supervise = sc.task(case_no, "supervise")
    # the leader has one working day: Saturday 10-10 is a make-up working day
    assert (supervise["lane"], supervise["due_at"]) == ("leader", "2026-10-10" + END)
    assert sc.case(case_no)["overdue"] is True

    # late working days: 10-09, 10-10, 10-12, 10-13, 10-14 (10-11 is Sunday)
    assert sc.set_clock("2026-10-14T12:00:00+08:00") == []
    assert sc.set_clock("2026-10-15T00:30:00+08:00") == [CRITICISM]
    assert sc.notices(case_no) == ["reminder", "criticism"]

    # the mediator finally triages: the leader's open supervision task is withdrawn with the stage
    sc.do("mediator", case_no, "triage", {"route": "joint", "departments": ["hrss"], "services": []})
    assert [e["task"] for e in sc.events(case_no, "task_cancelled")] == ["supervise"]
    assert sc.open_tasks(case_no) == [("department_opinion", "hrss")]
    # the department gets its own two working days from the dispatch, not the passed stage deadline
    assert sc.task(case_no, "department_opinion")["due_at"] == "2026-10-19" + END
    case = sc.case(case_no)
    assert (case["stage"], case["departments"]) == ("convene", ["hrss"])
    assert sc.completed(case_no) == ["intake", "triage"]


def test_department_ladder_targets_the_department(scenario):
    """A department that does not answer is reminded and supervised on its own deadline."""
    sc = scenario
    sc.start_clock_at("2026-09-07T09:00:00+08:00")
    case_no = sc.intake("receiver_county", title="工资纠纷", description="拖欠工资", category="labour",
                        location={"org_unit": "county"})
    sc.do("receiver_county", case_no, "intake", {"category": "labour"})
    sc.do("mediator", case_no, "triage", {"route": "joint", "departments": ["hrss", "justice"], "services": [],
                                          "receiving_leader": "leader"})
    sc.do("justice", case_no, "department_opinion", {"action": "opinion", "text": "已提供法律意见"}, "justice")
    assert sc.set_clock("2026-09-09T00:30:00+08:00") == [REMINDER]
    assert sc.set_clock("2026-09-10T08:00:00+08:00") == [OVERDUE]
    supervise = sc.task(case_no, "supervise")
    # assigned to the day's receiving leader, not to the department
    assert (supervise["lane"], supervise["department"], supervise["assignee"]) == ("leader", None, "leader")
    assert sc.detail(supervise, "leader")["data"]["supervised_department"] == "hrss"
    assert (supervise["about"]["department"], supervise["about"]["department_name"]) == ("hrss", "人社局")
    sc.complete("leader", supervise, {"instruction": "请人社局今日反馈"})
    sc.do("hrss", case_no, "department_opinion", {"action": "opinion", "text": "已立案"}, "hrss")
    assert sc.case(case_no)["stage"] == "mediate"
    assert sc.completed(case_no) == ["intake", "triage", "department_opinion", "supervise", "department_opinion"]
