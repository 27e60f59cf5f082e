"""Demo data for `onestop seed-demo`: the 青溪县 county, its centers, departments, users and cases.

Everything is synthetic (names, phone numbers 138xxxxxxxx, addresses) and reproducible: one fixed
seed drives every random choice. The whole demo is written in one transaction, so it is either
there completely or not at all; each case's walk steps run in savepoints so one step that a form
refuses only ends that case's walk.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import logging
import random
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app import clock
from app.attachments.service import add_attachment
from app.cases.models import MediationCase
from app.cases.service import DEFAULT_PROCESS, create_case, fire_case_timers, parse_intake
from app.config import Config
from app.db import Database
from app.errors import DomainError, NotFound
from app.org.models import OrgUnit, Role, User
from app.org.service import create_department, create_org_unit, hash_password
from app.processes.service import deploy_shipped, latest_process_version
from app.scheduler.models import PendingTimer
from app.tasks.models import HumanTask
from app.tasks.service import can_work_on
from app.walker import department_codes, person_name, phone_number, walk_case

log = logging.getLogger(__name__)

#: the password of every demo user (published in the README; never use the demo in production)
DEMO_PASSWORD = "onestop-demo"
#: the seed of every random choice of the demo
DEMO_SEED = 20260127

COUNTY = ("qingxi", "青溪县")
#: townships and their villages: (code, name, ((village code, village name), ...))
TOWNSHIPS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("hekou", "河口镇", (("liushu", "柳树村"), ("yangwan", "杨湾村"))),
    ("shanqian", "山前镇", (("shiqiao", "石桥村"), ("dongpo", "东坡村"))),
)

#: county departments, mediation committees and services: (code, name, kind)
DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("hrss", "人社局", "department"),
    ("justice", "司法局", "department"),
    ("housing", "住建局", "department"),
    ("natres", "自然资源局", "department"),
    ("agri", "农业农村局", "department"),
    ("health", "卫健委", "department"),
    ("police", "公安局", "department"),
    ("civil", "民政局", "department"),
    ("market", "市场监管局", "department"),
    ("env", "生态环境局", "department"),
    ("petition", "信访局", "department"),
    ("water", "水利局", "department"),
    ("edu", "教育局", "department"),
    ("transport", "交通运输局", "department"),
    ("cmte_labour", "劳动争议调解委员会", "committee"),
    ("cmte_medical", "医疗纠纷调解委员会", "committee"),
    ("cmte_traffic", "交通事故调解委员会", "committee"),
    ("cmte_family", "婚姻家庭调解委员会", "committee"),
    ("cmte_property", "物业纠纷调解委员会", "committee"),
    ("legal_aid", "法律援助中心", "service"),
    ("judicial_relief", "司法救助", "service"),
    ("psych", "心理服务站", "service"),
    ("social_aid", "社会救助", "service"),
)


@dataclass(frozen=True)
class DemoUser:
    """One demo account: its login, Chinese name and post, roles, org unit code and department code."""

    username: str
    display_name: str
    post: str
    roles: tuple[str, ...]
    org_unit: str
    department: str | None = None


_LIAISON_NAMES = ("孙立新", "马玉梅", "朱文斌", "胡春生", "郭海燕", "何志强", "高丽娟", "林德明",
                  "罗金花", "徐永福", "黄红霞", "杨国庆", "吴秀英", "周桂兰", "郑军", "冯伟", "韩芳",
                  "曹建华", "彭小燕")
_SERVICE_USERS = (("svc_legal", "legal_aid", "许律言"), ("svc_relief", "judicial_relief", "沈家宁"),
                  ("svc_psych", "psych", "唐心怡"), ("svc_social", "social_aid", "邓爱民"))


def _demo_users() -> tuple[DemoUser, ...]:
    users = [
        DemoUser("admin", "周建国", "县社会治理中心系统管理员", (Role.admin,), "qingxi"),
        DemoUser("designer", "吴思远", "流程管理员", (Role.designer,), "qingxi"),
        DemoUser("leader", "郑国华", "县委政法委副书记（当日接访领导）", (Role.leader,), "qingxi"),
        DemoUser("mediator", "陈静", "县社会治理中心调解员", (Role.mediator,), "qingxi"),
        DemoUser("mediator_town", "刘海波", "河口镇综治中心调解员", (Role.mediator,), "hekou"),
        DemoUser("receiver", "李红梅", "柳树村网格员", (Role.receiver,), "liushu"),
        DemoUser("receiver_village2", "王小军", "石桥村便民服务代办员", (Role.receiver,), "shiqiao"),
        DemoUser("receiver_town", "赵敏", "河口镇受理窗口", (Role.receiver,), "hekou"),
        DemoUser("receiver_town2", "钱秀兰", "山前镇受理窗口", (Role.receiver,), "shanqian"),
    ]
    names = iter(_LIAISON_NAMES)
    for code, name, kind in DEPARTMENTS:
        if kind != "service":
            users.append(DemoUser(f"dept_{code}", next(names), f"{name}联络员", (Role.department,),
                                  "qingxi", code))
    services = {code: name for code, name, kind in DEPARTMENTS if kind == "service"}
    for username, code, person in _SERVICE_USERS:
        users.append(DemoUser(username, person, f"{services[code]}工作人员", (Role.service,), "qingxi", code))
    return tuple(users)


#: every demo account (all with the password DEMO_PASSWORD); the README shows `demo_users_markdown()`
DEMO_USERS: tuple[DemoUser, ...] = _demo_users()


def _unit_names() -> dict[str, str]:
    names = {COUNTY[0]: COUNTY[1]}
    for code, name, villages in TOWNSHIPS:
        names[code] = name
        names.update(villages)
    return names


def demo_users_markdown() -> str:
    """Return the demo accounts as a Markdown table (username, name, post, roles, org unit, department)."""
    units = _unit_names()
    departments = {code: name for code, name, _ in DEPARTMENTS}
    lines = ["| 用户名 username | 姓名 | 岗位 | 角色 roles | 单位 org unit | 部门 department |",
             "| --- | --- | --- | --- | --- | --- |"]
    for user in DEMO_USERS:
        dept = f"{departments[user.department]} (`{user.department}`)" if user.department else ""
        lines.append(f"| `{user.username}` | {user.display_name} | {user.post} | {', '.join(user.roles)} "
                     f"| {units[user.org_unit]} (`{user.org_unit}`) | {dept} |")
    return "\n".join(lines) + "\n"


# --- cases ---------------------------------------------------------------------------------------

#: (category, title, urgent, description); {place} is the village or township name; the categories
#: are the catalogue's codes (forms/intake.json)
CASE_TEMPLATES: tuple[tuple[str, str, bool, str], ...] = (
    ("labour", "工地拖欠农民工工资", True,
     "{place}村民反映，县城某建筑工地拖欠12名农民工三个月工资约18万元，多次讨要未果。"),
    ("labour", "工伤赔偿争议", False,
     "当事人在{place}一家砖厂务工时右手受伤，企业拒绝申报工伤，也不支付医药费。"),
    ("land", "宅基地边界纠纷", False,
     "{place}两户村民因宅基地界址及新砌围墙发生争执，多次发生口角，村里调解未果。"),
    ("land", "承包地流转租金未付", False,
     "合作社流转{place}村民土地40余亩，两年租金未按合同支付，涉及农户17户。"),
    ("demolition", "征地拆迁补偿争议", False,
     "当事人对{place}房屋征收补偿评估价格有异议，认为明显低于周边同类房屋。"),
    ("other", "山塘水库坝体渗漏", True,
     "{place}山塘水库坝体出现渗漏，下游住有30余户村民，担心汛期安全，要求尽快维修。"),
    ("family", "赡养老人纠纷", False,
     "{place}一位八旬老人的三个儿子对赡养费用分担意见不一，老人生活无着。"),
    ("family", "离婚后抚养费纠纷", False,
     "当事人离婚后，对方长期不支付孩子抚养费，多次联系无果。"),
    ("neighbour", "邻里排水沟堵塞纠纷", False,
     "{place}邻居修路时填埋排水沟，雨天污水倒灌当事人家中。"),
    ("neighbour", "深夜施工噪音扰民", False,
     "{place}楼上住户经常深夜装修施工，影响老人和孩子休息，协商无果。"),
    ("property", "小区电梯故障物业不修", False,
     "{place}安置小区电梯长期故障，物业以业主欠费为由拒绝维修，业主拒交物业费。"),
    ("medical", "卫生院输液后过敏纠纷", True,
     "当事人在{place}卫生院输液后出现严重过敏反应，家属要求医院赔偿。"),
    ("traffic", "电动车与货车碰撞赔偿", False,
     "当事人骑电动车在{place}路口与小货车相撞受伤，双方对责任和赔偿金额有争议。"),
    ("environment", "养殖场粪污直排河道", False,
     "{place}附近养猪场粪污直排河道，气味刺鼻，影响村民饮水和生活。"),
    ("consumer", "购买种子发芽率低", False,
     "当事人在{place}农资店购买的水稻种子发芽率低，导致减产，商家拒绝赔偿。"),
    ("other", "低保资格被取消", False,
     "当事人对家庭低保资格被取消有异议，称家中有重病患者，生活困难。"),
    ("other", "农机购置补贴未发放", False,
     "当事人去年购买的插秧机已登记申报，补贴至今未到账。"),
    ("other", "民间借贷纠纷", False,
     "当事人借给{place}同村人5万元，约定一年归还，逾期两年未还，双方多次争吵。"),
)
_CHANNELS = ("walk_in", "hotline", "grid", "online")
#: how many tasks each case's walk completes, in turn, for a process other than the shipped one;
#: 99 means "until nothing is left to do"
_STEP_PLAN = (0, 1, 2, 3, 99, 4, 5, 6, 99, 8, 2, 10, 1, 99, 3, 12)

_JOINT = {"route": "joint", "receiving_leader": "leader"}
#: the departments a demo triage dispatches a matter to, by category (the lead first); the services
#: stay empty unless the scenario names them
_TRIAGE_DEPARTMENTS = {
    "labour": ["hrss", "cmte_labour"], "land": ["natres", "agri"], "demolition": ["natres", "housing"],
    "family": ["cmte_family", "civil"], "neighbour": ["justice", "housing"], "property": ["housing", "cmte_property"],
    "medical": ["health", "cmte_medical"], "traffic": ["police", "cmte_traffic"], "environment": ["env", "agri"],
    "consumer": ["market", "agri"], "other": ["justice", "petition"],
}
_FRESH, _OVERDUE, _OLD = "fresh", "overdue", "old"


@dataclass(frozen=True)
class Scenario:
    """Where one demo case of the shipped flow is left, and how it gets there.

    `template` is the index of its matter in CASE_TEMPLATES, `place` the code of its village or
    township.
    `choices`, `until` and `limits` are passed to `walk_case` (a limit of `local_mediation` counts
    after the escalations); `escalate` is the level the case is escalated to by local mediation
    before the rest (None: not at all); `age` says when it came in:
    fresh (within the last hours, every deadline still ahead), overdue (days ago, its stage deadline
    missed, so supervision has started) or old (days to weeks ago, typically closed by now).
    """

    key: str
    template: int
    place: str
    age: str = _FRESH
    escalate: str | None = "county"
    choices: dict[str, Any] | None = None
    until: tuple[str, ...] = ()
    limits: dict[str, int] | None = None
    steps: int = 99


def _joint(**more: Any) -> dict[str, Any]:
    return {"intake": {"on_the_spot": False}, "triage": dict(_JOINT), **more}


def _sc(key: str, template: int, place: str, **more: Any) -> Scenario:
    return Scenario(key, template, place, **more)


_STAY_LOCAL = {"intake": {"on_the_spot": False}}
_ON_THE_SPOT = {"intake": {"on_the_spot": True}}

#: the demo cases of the shipped flow in order: the first dozen cover the main stages (the browser
#: tests seed 12; the first is an open wage matter in 柳树村), the rest fill every stage with a few
#: more. Matters that go far come mostly from the townships (one escalation to the county instead of
#: two), which keeps `seed-demo` quick.
SCENARIOS: tuple[Scenario, ...] = (
    _sc("convene", 0, "liushu", choices=_joint(), until=("department_opinion",)),
    _sc("accept", 9, "yangwan", steps=0),
    _sc("local", 8, "shiqiao", escalate=None, choices=_STAY_LOCAL, limits={"local_mediation": 0}),
    _sc("triage", 3, "hekou", choices=_joint(), until=("triage",)),
    _sc("settled", 6, "dongpo", age=_OLD, escalate=None, choices={**_ON_THE_SPOT, "settle": {"settled": True}}),
    _sc("mediate", 1, "shanqian", choices=_joint(), until=("meeting",)),
    _sc("callback", 2, "hekou", choices=_joint(), until=("callback",)),
    _sc("approve_reply", 10, "shanqian", choices=_joint(), until=("approve_reply",)),
    _sc("returned", 13, "hekou", choices=_joint(department_opinion=[{"action": "return"}]), until=("redispatch",)),
    _sc("extension", 4, "shanqian",
        choices=_joint(department_opinion=[{"action": "extension", "extension_days": 3}]),
        until=("approve_extension",)),
    _sc("closed", 12, "liushu", age=_OLD, choices=_joint(callback={"solved": True, "satisfied": True})),
    _sc("accept_overdue", 7, "dongpo", age=_OVERDUE, steps=0),
    _sc("settle", 17, "yangwan", escalate=None, choices=_ON_THE_SPOT, until=("settle",)),
    _sc("service", 1, "hekou", choices=_joint(triage={**_JOINT, "services": ["legal_aid"]}),
        limits={"service_task": 0}),
    _sc("draft_reply", 14, "shanqian", choices=_joint(), until=("draft_reply",)),
    _sc("convene_partly", 5, "hekou", choices=_joint(), limits={"department_opinion": 1}),
    _sc("local_township", 2, "yangwan", escalate="township", choices=_STAY_LOCAL, limits={"local_mediation": 0}),
    _sc("convene_overdue", 15, "shanqian", age=_OVERDUE, choices=_joint(), until=("department_opinion",)),
    _sc("explain_policy", 16, "hekou", choices=_joint(draft_reply={"resolved": False}), until=("explain_policy",)),
    _sc("unsatisfied_reopened", 11, "shanqian", age=_OLD,
        choices=_joint(callback={"solved": False, "satisfied": False}), limits={"triage": 1}),
    _sc("resolved_locally", 9, "shiqiao", age=_OLD, escalate=None,
        choices={**_STAY_LOCAL, "local_mediation": {"local_decision": "resolved"}}),
    _sc("callback_overdue", 10, "hekou", age=_OVERDUE, choices=_joint(), until=("callback",)),
    _sc("triage_overdue", 4, "shiqiao", age=_OVERDUE, choices=_joint(), until=("triage",)),
    _sc("local_overdue", 8, "liushu", age=_OVERDUE, escalate=None, choices=_STAY_LOCAL,
        limits={"local_mediation": 0}),
    _sc("mediate_overdue", 13, "shanqian", age=_OVERDUE, choices=_joint(), until=("meeting",)),
    _sc("local", 17, "shanqian", escalate=None, choices=_STAY_LOCAL, limits={"local_mediation": 0}),
    _sc("accept", 12, "dongpo", steps=0),
    _sc("settled", 9, "liushu", age=_OLD, escalate=None, choices={**_ON_THE_SPOT, "settle": {"settled": True}}),
    _sc("resolved_locally", 6, "yangwan", age=_OLD, escalate=None,
        choices={**_STAY_LOCAL, "local_mediation": {"local_decision": "resolved"}}),
    _sc("hand_down", 2, "hekou",
        choices={**_STAY_LOCAL, "triage": {"route": "hand_down", "hand_down_level": "township"}},
        limits={"local_mediation": 0}),
    _sc("convene", 11, "dongpo", choices=_joint(), until=("department_opinion",)),
    _sc("returned", 16, "shanqian", choices=_joint(department_opinion=[{"action": "opinion"}, {"action": "return"}]),
        until=("redispatch",)),
    _sc("triage", 15, "dongpo", choices=_joint(), until=("triage",)),
    _sc("settle", 7, "dongpo", escalate=None, choices=_ON_THE_SPOT, until=("settle",)),
)
#: how many cases the demo creates: one per scenario
DEMO_CASES = len(SCENARIOS)


def demo_intakes(count: int, rng: random.Random, plan: Sequence[tuple[int, str]] | None = None
                 ) -> list[dict[str, Any]]:
    """Return `count` synthetic intake bodies (as POST /cases takes them) spread over places and channels.

    `plan` fixes the (template index, place code) of each case in turn, cycling; without it the
    matters and places take turns."""
    villages = [village for _code, _name, town_villages in TOWNSHIPS for village in town_villages]
    # villages twice as often as townships: most matters start (and many end) in the village
    places = villages + [(code, name) for code, name, _v in TOWNSHIPS] + villages[::-1]
    names = _unit_names()
    bodies = []
    for i in range(count):
        template, (unit, place) = i % len(CASE_TEMPLATES), places[i % len(places)]
        if plan:
            template, unit = plan[i % len(plan)]
            place = names[unit]
        category, title, urgent, description = CASE_TEMPLATES[template]
        address = f"{place}{rng.randint(1, 9)}组{rng.randint(1, 60)}号"
        bodies.append({
            "title": f"{place}{title}",
            "description": description.format(place=place),
            "category": category,
            "urgency": "urgent" if urgent or rng.random() < 0.1 else "normal",
            "channel": _CHANNELS[i % len(_CHANNELS)],
            "citizen": {"name": person_name(rng), "phone": phone_number(rng)},
            "location": {"org_unit": unit, "address": address},
        })
    return bodies


def _intake_actor(users: dict[str, User], body: dict[str, Any], units: dict[str, OrgUnit]) -> User:
    """Who registers the case: the place's own receiver for walk-ins and grid reports, else the center."""
    if body["channel"] in ("walk_in", "grid"):
        unit = units[body["location"]["org_unit"]]
        for user in users.values():
            if Role.receiver in user.roles and unit.is_within(user.org_unit):
                return user
    return users["mediator"]


#: how long ago a case came in, by its scenario's age: (shortest, longest) in minutes; and the
#: time between two of its steps, likewise. Urgent matters count their deadlines in hours (2 hours to
#: accept), so a fresh urgent case came in less than two hours ago.
_AGES = {_FRESH: (20, 20 * 60), _OVERDUE: (14 * 24 * 60, 18 * 24 * 60), _OLD: (5 * 24 * 60, 25 * 24 * 60)}
_FRESH_URGENT = (20, 100)
_GAPS = {_FRESH: (2, 9), _OVERDUE: (120, 360), _OLD: (180, 720)}
_LEVEL_UP = {"village": ("township", "county"), "township": ("county",), "county": ()}


def _walk_plan(scenario: Scenario, body: dict[str, Any], level: str) -> tuple[dict[str, Any], dict[str, int] | None]:
    """The choices and limits of a scenario for a case filed at `level`: the intake keeps the
    category and urgency it was filed with, triage dispatches to the category's departments, and
    escalations come first."""
    choices = copy.deepcopy(scenario.choices or {})
    choices["intake"] = {"category": body["category"], "urgency": body["urgency"], **choices.get("intake", {})}
    if "triage" in choices and choices["triage"].get("route") == "joint":
        departments = _TRIAGE_DEPARTMENTS.get(body["category"], ["justice", "petition"])
        choices["triage"] = {"lead_department": departments[0], "departments": departments, "services": [],
                             **choices["triage"]}
    limits = dict(scenario.limits) if scenario.limits is not None else None
    if scenario.escalate:
        ladder = _LEVEL_UP[level]
        ups = ladder.index(scenario.escalate) + 1 if scenario.escalate in ladder else 0
        after = choices.get("local_mediation", {"local_decision": "resolved"})
        choices["local_mediation"] = [{"local_decision": "escalate"}] * ups + [after]
        if limits is not None and "local_mediation" in limits:
            limits["local_mediation"] += ups
    return choices, limits


@contextlib.contextmanager
def _clock_at(moment: datetime) -> Iterator[None]:
    """Run the block with OneStop's clock at `moment` (a case that came in days ago), then put it back."""
    saved = clock.offset()
    clock.set_to(moment)
    try:
        yield
    finally:
        clock.set_offset(saved)


def _create_cases(session: Session, users: dict[str, User], *, process_id: str, count: int, seed: int,
                  prefix: str) -> list[str]:
    """Create the demo cases and walk each to where it should wait; return their numbers."""
    try:
        latest_process_version(session, process_id)
    except NotFound:
        log.warning("process %s is not deployed: the demo has no cases "
                    "(deploy it, then seed a fresh database)", process_id)
        return []
    if process_id != DEFAULT_PROCESS:
        return _create_stepped_cases(session, users, process_id=process_id, count=count, seed=seed, prefix=prefix)
    units = {u.code: u for u in session.scalars(select(OrgUnit))}
    codes = department_codes(session)
    admin = users["admin"]
    doer = _doer(list(users.values()), admin)
    end = clock.now()
    planned = []
    plan = [(sc.template, sc.place) for sc in SCENARIOS]
    for i, body in enumerate(demo_intakes(count, random.Random(seed), plan)):
        scenario = SCENARIOS[i % len(SCENARIOS)]
        rng = random.Random(f"{seed}:{i}")
        ages = _FRESH_URGENT if scenario.age == _FRESH and body["urgency"] == "urgent" else _AGES[scenario.age]
        planned.append((end - timedelta(seconds=rng.randint(ages[0] * 60, ages[1] * 60)), i, body, scenario, rng))
    numbers: list[str] = []
    ids: list[int] = []
    previous = end - timedelta(days=365)
    # oldest first, so that case numbers grow with the time a case came in
    for received, _i, body, scenario, rng in sorted(planned, key=lambda p: (p[0], p[1])):
        received = max(received, previous + timedelta(seconds=5))  # two cases never come in at once
        previous = received
        gaps = _GAPS[scenario.age]

        def pace(_task: Any, rng: random.Random = rng, gaps: tuple[int, int] = gaps) -> None:
            step = timedelta(minutes=rng.randint(*gaps))
            if clock.now() + step < end - timedelta(minutes=1):
                clock.advance(step)

        with _clock_at(received):
            case = create_case(session, _intake_actor(users, body, units), parse_intake(body),
                               process_id=process_id, prefix=prefix)
            choices, limits = _walk_plan(scenario, body, units[body["location"]["org_unit"]].level)
            walk_case(session, admin, case.case_no, scenario.steps, rng, codes=codes, affirmative=0.9,
                      strict=False, choices=choices, until=scenario.until, limits=limits, before_step=pace,
                      attach=functools.partial(_demo_document, session), doer=doer)
        log.debug("%s: %s", case.case_no, scenario.key)
        numbers.append(case.case_no)
        ids.append(case.id)
    _fire_due_timers(session, ids)
    return numbers


def _doer(people: list[User], admin: User) -> Callable[[HumanTask], User]:
    """Who of the demo's people does a task: the most local one whose role, place and department fit it
    (a village's grid worker before the township's window), else the administrator (a place with no
    receiver of its own). The timelines then read as a center's would, not as one administrator's."""
    def pick(task: HumanTask) -> User:
        fitting = [person for person in people if not person.is_admin and can_work_on(person, task)]
        return max(fitting, key=lambda person: person.org_unit.path.count("/"), default=admin)

    return pick


def _demo_document(session: Session, actor: User, task: HumanTask, field: str, data: dict[str, Any]) -> int | None:
    """The paper a step of the shipped flow produces, as a Word document the task's file field holds: the
    agreement of a matter resolved locally, a department's written opinion, the meeting's record. The
    demo's case pages then show files as a center's would."""
    case = task.case
    if (task.name, field) == ("local_mediation", "documents") and data.get("local_decision") == "resolved":
        name, title = "人民调解协议书.docx", "人民调解协议书"
        body = [f"事项：{case.title}（{case.case_no}）", f"调解组织：{case.org_unit.name}人民调解委员会",
                "经调解，双方当事人自愿达成如下协议：", str(data.get("local_result") or "双方就争议事项达成一致。"),
                "本协议自双方签字之日起生效，双方应自觉履行。", "当事人（签字）：　　　　　　调解员（签字）："]
    elif (task.name, field) == ("department_opinion", "opinion_files") and data.get("action") == "opinion":
        department = task.department.name if task.department else "部门"
        name, title = f"{department}书面意见.docx", f"{department}关于{case.case_no}的办理意见"
        body = [f"事项：{case.title}", str(data.get("text") or ""), f"{department}（盖章）"]
    elif (task.name, field) == ("meeting", "meeting_files"):
        name, title = "联合调解会记录.docx", "联合调解会记录"
        body = [f"事项：{case.title}（{case.case_no}）", f"记录：{data.get('meeting_minutes') or ''}",
                "结果：" + ("达成调解协议" if data.get("agreement_reached") else "未达成协议")]
    else:
        return None
    return add_attachment(session, actor, case, filename=name, data=word_document(title, body),
                          task=task, field=field).id


def word_document(title: str, paragraphs: Sequence[str]) -> bytes:
    """A minimal .docx (Office Open XML) with a centred bold title and plain paragraphs; the same bytes
    for the same text, so seeded databases stay alike."""
    def run(text: str, props: str = "") -> str:
        return f'<w:r>{props}<w:t xml:space="preserve">{escape(text)}</w:t></w:r>'

    main = "http://schemas.openxmlformats.org"
    bold = '<w:rPr><w:b/><w:sz w:val="36"/></w:rPr>'
    heading = f'<w:p><w:pPr><w:jc w:val="center"/></w:pPr>{run(title, bold)}</w:p>'
    document = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                f'<w:document xmlns:w="{main}/wordprocessingml/2006/main"><w:body>{heading}'
                + "".join(f"<w:p>{run(p)}</w:p>" for p in paragraphs) + "</w:body></w:document>")
    parts = {
        "[Content_Types].xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="{main}/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            "</Types>"),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships '
            f'xmlns="{main}/package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{main}/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            "</Relationships>"),
        "word/document.xml": document,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, text in parts.items():
            archive.writestr(zipfile.ZipInfo(part, date_time=(2026, 1, 1, 0, 0, 0)), text.encode("utf-8"),
                             compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _fire_due_timers(session: Session, case_ids: list[int]) -> None:
    """Fire what fell due while the older cases waited: reminders, supervision (督办) and criticism."""
    due = set(session.scalars(select(PendingTimer.case_id).where(PendingTimer.case_id.in_(case_ids),
                                                                 PendingTimer.due_at <= clock.now())))
    for case_id in sorted(due):
        try:
            with session.begin_nested():
                fire_case_timers(session, case_id)
        except DomainError as exc:
            log.warning("firing the timers of demo case %s failed: %s", case_id, exc.message)


def _create_stepped_cases(session: Session, users: dict[str, User], *, process_id: str, count: int, seed: int,
                          prefix: str) -> list[str]:
    """Cases of a process other than the shipped one: each walked a different number of steps."""
    units = {u.code: u for u in session.scalars(select(OrgUnit))}
    codes = department_codes(session)
    admin = users["admin"]
    numbers: list[str] = []
    for i, body in enumerate(demo_intakes(count, random.Random(seed))):
        actor = _intake_actor(users, body, units)
        case = create_case(session, actor, parse_intake(body), process_id=process_id, prefix=prefix)
        numbers.append(case.case_no)
        rng = random.Random(f"{seed}:{i}")
        walk_case(session, admin, case.case_no, _STEP_PLAN[i % len(_STEP_PLAN)], rng, codes=codes,
                  affirmative=0.85 if i % 3 else 0.5, strict=False)
    return numbers


# --- the world -----------------------------------------------------------------------------------

def _create_world(session: Session) -> dict[str, User]:
    """Create the org tree, departments and demo users; return the users by username."""
    county = create_org_unit(session, code=COUNTY[0], name=COUNTY[1], level="county")
    units = {county.code: county}
    for code, name, villages in TOWNSHIPS:
        town = create_org_unit(session, code=code, name=name, level="township", parent=county)
        units[code] = town
        for v_code, v_name in villages:
            units[v_code] = create_org_unit(session, code=v_code, name=v_name, level="village", parent=town)
    departments = {code: create_department(session, code=code, name=name, org_unit=county, kind=kind)
                   for code, name, kind in DEPARTMENTS}
    # one argon2 hash for all: hashing costs ~0.2 s, and every demo user has the same published password
    password_hash = hash_password(DEMO_PASSWORD)
    users: dict[str, User] = {}
    for spec in DEMO_USERS:
        user = User(username=spec.username, password_hash=password_hash, display_name=spec.display_name,
                    roles=[str(r) for r in spec.roles], org_unit=units[spec.org_unit],
                    department=departments[spec.department] if spec.department else None)
        session.add(user)
        users[spec.username] = user
    session.flush()
    return users


def _deploy_shipped(session: Session, config: Config) -> None:
    """Publish the shipped processes/ and forms/ when nothing is deployed yet."""
    result = deploy_shipped(session, (config.processes_dir, config.forms_dir),
                            note="shipped processes and forms (seed-demo)", source="seed")
    if result is not None:
        published = [f"{p.process_id} v{p.version}" for p in result.processes]
        log.info("deployed %s", ", ".join(published) or "forms only")


@contextlib.contextmanager
def _quiet_engine_log() -> Iterator[None]:
    """Keep SpiffWorkflow's per-task INFO lines out of the output while hundreds of steps run."""
    logger = logging.getLogger("spiff")
    level = logger.level
    logger.setLevel(max(logging.WARNING, level))
    try:
        yield
    finally:
        logger.setLevel(level)


def seed_demo(config: Config, *, process_id: str = DEFAULT_PROCESS, cases: int = DEMO_CASES,
              seed: int = DEMO_SEED) -> bool:
    """Create the demo county, departments, users and cases once; False (changing nothing) if present."""
    db = Database(config.database_url)
    try:
        with _quiet_engine_log(), db.unit_of_work() as session:
            if not db.is_sqlite:
                # the same lock as the first-start deploy, so seeding and starting the app never both deploy
                session.execute(text("SELECT pg_advisory_xact_lock(727001)"))
            if session.scalar(select(User.id).where(User.username == "admin")) is not None:
                return False
            _deploy_shipped(session, config)
            users = _create_world(session)
            numbers = _create_cases(session, users, process_id=process_id, count=cases, seed=seed,
                                    prefix=config.case_prefix)
            if numbers:
                stages = Counter(session.scalars(select(MediationCase.stage)
                                                 .where(MediationCase.case_no.in_(numbers))))
                log.info("demo cases by stage: %s", ", ".join(f"{k} {v}" for k, v in sorted(stages.items())))
        return True
    finally:
        db.dispose()
