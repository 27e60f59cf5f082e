"""Demo data for `onestop seed-demo`: the 青溪县 county, its centers, departments, users and cases.

Everything is synthetic (names, phone numbers 138xxxxxxxx, addresses) and reproducible: one fixed
seed drives every random choice. The whole demo is written in one transaction, so it is either
there completely or not at all; each case's walk steps run in savepoints so one step that a form
refuses only ends that case's walk.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.cases.models import MediationCase
from app.cases.service import DEFAULT_PROCESS, create_case, parse_intake
from app.config import Config
from app.db import Database
from app.errors import NotFound
from app.org.models import OrgUnit, Role, User
from app.org.service import create_department, create_org_unit, hash_password
from app.processes.service import deploy_bundle, has_any_process, latest_process_version, read_bundle_dir
from app.walker import department_codes, person_name, phone_number, walk_case

log = logging.getLogger(__name__)

#: the password of every demo user (published in the README; never use the demo in production)
DEMO_PASSWORD = "onestop-demo"
#: the seed of every random choice of the demo
DEMO_SEED = 20260127
#: how many cases the demo creates
DEMO_CASES = 36

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

#: (category, title, urgent, description); {place} is the village or township name
CASE_TEMPLATES: tuple[tuple[str, str, bool, str], ...] = (
    ("labour", "工地拖欠农民工工资", True,
     "{place}村民反映，县城某建筑工地拖欠12名农民工三个月工资约18万元，多次讨要未果。"),
    ("labour", "工伤赔偿争议", False,
     "当事人在{place}一家砖厂务工时右手受伤，企业拒绝申报工伤，也不支付医药费。"),
    ("land", "宅基地边界纠纷", False,
     "{place}两户村民因宅基地界址及新砌围墙发生争执，多次发生口角，村里调解未果。"),
    ("land", "承包地流转租金未付", False,
     "合作社流转{place}村民土地40余亩，两年租金未按合同支付，涉及农户17户。"),
    ("housing", "征地拆迁补偿争议", False,
     "当事人对{place}房屋征收补偿评估价格有异议，认为明显低于周边同类房屋。"),
    ("water", "山塘水库坝体渗漏", True,
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
    ("social", "低保资格被取消", False,
     "当事人对家庭低保资格被取消有异议，称家中有重病患者，生活困难。"),
    ("agri", "农机购置补贴未发放", False,
     "当事人去年购买的插秧机已登记申报，补贴至今未到账。"),
    ("debt", "民间借贷纠纷", False,
     "当事人借给{place}同村人5万元，约定一年归还，逾期两年未还，双方多次争吵。"),
)
_CHANNELS = ("walk_in", "hotline", "grid", "online")
#: how many tasks each case's walk completes, in turn; 99 means "until nothing is left to do"
_STEP_PLAN = (0, 1, 2, 3, 99, 4, 5, 6, 99, 8, 2, 10, 1, 99, 3, 12)


def demo_intakes(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Return `count` synthetic intake bodies (as POST /cases takes them) spread over places and channels."""
    villages = [village for _code, _name, town_villages in TOWNSHIPS for village in town_villages]
    # villages twice as often as townships: most matters start (and many end) in the village
    places = villages + [(code, name) for code, name, _v in TOWNSHIPS] + villages[::-1]
    bodies = []
    for i in range(count):
        category, title, urgent, description = CASE_TEMPLATES[i % len(CASE_TEMPLATES)]
        unit, place = places[i % len(places)]
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


def _create_cases(session: Session, users: dict[str, User], *, process_id: str, count: int, seed: int,
                  prefix: str) -> list[str]:
    """Create the demo cases and walk each a different number of steps; return their numbers."""
    try:
        latest_process_version(session, process_id)
    except NotFound:
        log.warning("process %s is not deployed: the demo has no cases "
                    "(deploy it, then seed a fresh database)", process_id)
        return []
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
    if has_any_process(session):
        return
    files: dict[str, bytes] = {}
    for folder in (config.processes_dir, config.forms_dir):
        if folder.exists():
            files.update(read_bundle_dir(folder))
    if files:
        result = deploy_bundle(session, files, note="shipped processes and forms (seed-demo)", source="seed")
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
