"""New, returned and overdue tasks reach the bell and, through the outbox, the phone."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app import clock
from app.notify.channels import LogChannel, load_channel
from app.notify.models import OutboxMessage
from app.notify.service import deliver_outbox, notify_overdue_tasks
from app.org.models import User

BUNDLES = Path(__file__).resolve().parents[1] / "api" / "bundles"


def start_two_step(api) -> str:
    files = {n: (BUNDLES / n).read_text() for n in ("two_step.bpmn", "triage.json", "opinion.json")}
    # task titles in both languages, as the shipped processes have them
    files["two_step.bpmn"] = files["two_step.bpmn"].replace('name="分流"', 'name="分流 Triage"')
    assert api.deploy(files).status_code == 201
    return api.intake(process_id="two_step").get_json()["case_no"]


def bell(api, user):
    return api.get("/notifications", user).get_json()


def test_new_tasks_reach_everyone_who_may_do_them(api):
    case_no = start_two_step(api)
    assert bell(api, "mediator")["unread"] == 1
    assert bell(api, "mediator_town")["unread"] == 1  # the village is below the town
    assert bell(api, "hrss")["unread"] == 0
    [triage] = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]
    api.post(f"/tasks/{triage['id']}/complete", "mediator", json={"data": {"departments": ["hrss"]}})
    note = bell(api, "hrss")["items"][0]
    assert note["kind"] == "task_new" and case_no in note["text"]
    assert bell(api, "justice")["unread"] == 0

    r = api.post("/notifications/read", "hrss", json={})
    assert r.get_json()["unread"] == 0
    assert api.post("/notifications/read", "hrss", json={"ids": "all"}).status_code == 422


def test_returned_dispatch_tells_the_mediators(api):
    case_no = start_two_step(api)
    [triage] = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]
    api.post(f"/tasks/{triage['id']}/complete", "mediator", json={"data": {"departments": ["hrss"]}})
    api.post("/notifications/read", "mediator", json={})
    [opinion] = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]
    r = api.post(f"/tasks/{opinion['id']}/complete", "hrss",
                 json={"data": {"action": "return", "text": "不属于本部门职责", "opinion_item": {"text": "退"}}})
    assert r.status_code == 200
    note = bell(api, "mediator")["items"][0]
    assert note["kind"] == "task_returned" and "不属于本部门职责" in note["text"]
    assert note["text"] == f"退单：人社局 退回了 {case_no}「拖欠工资」，理由：不属于本部门职责"


def test_the_page_words_a_returned_dispatch_in_its_language_and_leads_to_the_case(client, api):
    import re

    case_no = start_two_step(api)
    [triage] = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]
    api.post(f"/tasks/{triage['id']}/complete", "mediator", json={"data": {"departments": ["hrss"]}})
    [opinion] = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]
    r = api.post(f"/tasks/{opinion['id']}/complete", "hrss",
                 json={"data": {"action": "return", "text": "不属于本部门职责", "opinion_item": {"text": "退"}}})
    assert r.status_code == 200, r.get_json()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "mediator", "password": "test-password-1", "csrf_token": token})
    html = client.get("/notifications").get_data(as_text=True)
    returned = html.split("kind-task_returned")[1].split("</li>")[0]
    assert f"人社局 退回了 {case_no}「拖欠工资」，理由：不属于本部门职责" in returned
    # its department task is done: the link goes to the case, which waits for the re-dispatch
    assert f'name="next" value="/cases/{case_no}"' in returned and "查看事项" in returned
    client.get("/lang/en")
    returned = client.get("/notifications").get_data(as_text=True).split("kind-task_returned")[1].split("</li>")[0]
    assert f"人社局 returned {case_no}「拖欠工资」, reason: 不属于本部门职责" in returned


def test_overdue_once_and_sms_through_the_outbox(api, database):
    with database.unit_of_work() as s:
        s.scalar(select(User).where(User.username == "mediator")).phone = "13900000001"
    case_no = start_two_step(api)  # the triage task is due at the end of the next working day
    with database.unit_of_work() as s:
        assert notify_overdue_tasks(s) == 0
    clock.advance(__import__("datetime").timedelta(days=5))
    with database.unit_of_work() as s:
        assert notify_overdue_tasks(s) == 1
    with database.unit_of_work() as s:
        assert notify_overdue_tasks(s) == 0  # once per task
    kinds = [n["kind"] for n in bell(api, "mediator")["items"]]
    assert kinds == ["task_overdue", "task_new"]

    channel = LogChannel()
    assert deliver_outbox(database, channel) == 2
    assert [r for r, _ in channel.sent] == ["13900000001", "13900000001"]
    assert all(case_no in body and body.startswith("【一站式调处】") for _, body in channel.sent)
    # a Chinese sentence: the title's Chinese part alone
    assert [body.rsplit("— ", 1)[1] for _, body in channel.sent] == ["分流", "分流"]
    assert deliver_outbox(database, channel) == 0


class BrokenGateway:
    name = "sms"

    def send(self, recipient: str, body: str) -> None:
        raise ConnectionError("gateway down")


def test_a_failing_gateway_retries_with_backoff_then_gives_up(api, database):
    with database.unit_of_work() as s:
        s.scalar(select(User).where(User.username == "mediator")).phone = "13900000001"
    start_two_step(api)
    from datetime import timedelta

    for _ in range(5):
        assert deliver_outbox(database, BrokenGateway()) == 0
        clock.advance(timedelta(hours=1))
    with database.unit_of_work(write=False) as s:
        message = s.scalar(select(OutboxMessage))
        assert message.status == "failed" and message.attempts == 5 and "gateway down" in message.last_error


def test_channel_loading():
    assert isinstance(load_channel("log"), LogChannel)
    assert isinstance(load_channel(None), LogChannel)
    assert load_channel("tests.notify.test_notifications:BrokenGateway").name == "sms"
    import pytest

    with pytest.raises(ValueError):
        load_channel("no-colon")


def test_bell_in_the_page(client, api):
    start_two_step(api)
    import re

    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "mediator", "password": "test-password-1", "csrf_token": token})
    badge = client.get("/notifications/badge").get_data(as_text=True)
    from app.web.notifications import BELL

    assert badge == BELL + '<span class="badge" aria-label="unread">1</span>'
    html = client.get("/notifications").get_data(as_text=True)
    assert "新待办" in html and "拖欠工资" in html
    # the task is named in the page's language; the kind is the label, not repeated in the text
    texts = re.findall(r'<span class="text">(.*?)</span>', html)
    assert len(texts) == 1 and texts[0].endswith("」— 分流") and texts[0].startswith("QX-"), texts
    client.get("/lang/en")
    html = client.get("/notifications").get_data(as_text=True)
    assert re.findall(r'<span class="text">(.*?)</span>', html)[0].endswith("」— Triage")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # login made a new session
    assert client.post("/notifications/read", data={"csrf_token": token}).status_code == 302
    assert client.get("/notifications/badge").get_data(as_text=True) == BELL


def test_only_active_people_of_the_role_and_place_are_told_and_an_assignee_alone(api, database):
    """Who is told is decided by the database (INSERT ... SELECT): the task's role, its place and the
    places above it, active users only; a claimed task's assignee alone. Each text message repeats
    its own person's notification."""
    from app.notify.models import Notification

    with database.unit_of_work() as s:
        users = {u.username: u for u in s.scalars(select(User))}
        users["mediator_town"].active = False
        users["mediator"].phone = "13900000001"
        users["leader"].phone = "13900000002"  # at the county, but not a mediator
    case_no = start_two_step(api)
    assert bell(api, "mediator")["unread"] == 1
    for other in ("receiver", "leader", "admin", "hrss"):  # the village's receiver too: not their role
        assert bell(api, other)["unread"] == 0, other
    with database.unit_of_work() as s:
        s.scalar(select(User).where(User.username == "mediator_town")).active = True
        s.scalar(select(User).where(User.username == "mediator_town")).phone = "13900000003"
    [triage] = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]
    assert api.post(f"/tasks/{triage['id']}/claim", "mediator_town").status_code == 200
    clock.advance(__import__("datetime").timedelta(days=5))
    with database.unit_of_work() as s:
        assert notify_overdue_tasks(s) == 1
    assert [n["kind"] for n in bell(api, "mediator_town")["items"]] == ["task_overdue"]
    assert [n["kind"] for n in bell(api, "mediator")["items"]] == ["task_new"]
    with database.unit_of_work(write=False) as s:
        pairs = s.execute(select(OutboxMessage.recipient, Notification.user_id, Notification.kind)
                          .join(Notification, Notification.id == OutboxMessage.notification_id)
                          .order_by(OutboxMessage.id)).all()
        ids = {u.username: u.id for u in s.scalars(select(User))}
    assert [tuple(p) for p in pairs] == [("13900000001", ids["mediator"], "task_new"),
                                         ("13900000003", ids["mediator_town"], "task_overdue")]


def test_the_bell_counts_up_to_99_and_the_api_all(client, api, database, org):
    """The bell (asked on every page and every minute) counts unread notifications only up to 99+;
    the API's `unread` is exact."""
    import re

    from sqlalchemy import insert

    from app.notify.models import Notification
    from app.web.notifications import BELL

    with database.unit_of_work() as s:
        s.execute(insert(Notification), [{"user_id": org.users["mediator"].id, "kind": "task_new",
                                          "text": f"第{i}条", "created_at": clock.now()} for i in range(120)])
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "mediator", "password": "test-password-1", "csrf_token": token})
    from tests.conftest import sql_sent

    with sql_sent(database.engine) as sent:
        assert client.get("/notifications/badge").get_data(as_text=True) == (
            BELL + '<span class="badge" aria-label="unread">99+</span>')
    assert [sql for sql in sent if "FROM notification" in sql and "LIMIT" in sql]  # not all 120 counted
    assert "99+ 条未读" in client.get("/notifications").get_data(as_text=True)
    assert api.get("/notifications", "mediator").get_json()["unread"] == 120
