"""Users, departments, org units and the county calendar through the API."""

from __future__ import annotations


def test_admin_creates_users_with_roles(api):
    body = {"username": "newbie", "password": "long-enough-1", "roles": ["department"], "org_unit": "county",
            "department": "hrss", "display_name": "新同事"}
    r = api.post("/users", "admin", json=body)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["department"] == "hrss"
    assert api.post("/users", "admin", json=body).status_code == 409
    assert api.post("/users", "mediator", json={**body, "username": "x2"}).status_code == 403
    r = api.post("/users", "admin", json={**body, "username": "x3", "roles": ["wizard"], "password": "short"})
    assert r.status_code == 422 and {"roles", "password"} <= set(r.get_json()["fields"])
    r = api.post("/users", "admin", json={**body, "username": "x4", "department": "nope"})
    assert r.status_code == 422 and "department" in r.get_json()["fields"]
    r = api.post("/auth/login", json={"username": "newbie", "password": "long-enough-1"})
    assert r.status_code == 200 and r.get_json()["user"]["roles"] == ["department"]


def test_departments_and_org_units(api):
    items = api.get("/departments", "receiver").get_json()["items"]
    assert {"code": "hrss", "name": "人社局", "kind": "department", "org_unit": "county"} in items
    units = {u["code"]: u for u in api.get("/org-units", "receiver").get_json()["items"]}
    assert units["village1"] == {"code": "village1", "name": "柳树村", "level": "village", "parent": "town1"}
    assert units["county"]["parent"] is None


def test_data_scope_of_cases(api):
    import pathlib

    bundles = pathlib.Path(__file__).parent / "bundles"
    files = {n: (bundles / n).read_text() for n in ("two_step.bpmn", "triage.json", "opinion.json")}
    assert api.deploy(files).status_code == 201
    case_no = api.intake(process_id="two_step").get_json()["case_no"]
    assert api.get(f"/cases/{case_no}", "mediator_town").status_code == 200  # its village is below the town
    assert api.get("/cases", "mediator_town").get_json()["total"] == 1
    # a receiver of another place cannot file for village1 nor see the case
    assert api.get(f"/cases/{case_no}", "hrss").status_code == 404  # not dispatched to hrss yet
    assert api.get("/cases?q=拖欠", "mediator").get_json()["total"] == 1
    assert api.get("/cases?q=nothing", "mediator").get_json()["total"] == 0
    assert api.get("/cases?overdue=maybe", "mediator").status_code == 400
    assert api.get("/cases?org_unit=town2", "admin").get_json()["total"] == 0
    assert api.get("/cases?org_unit=town1", "admin").get_json()["total"] == 1


def test_calendar_days_move_deadlines(api):
    r = api.get("/calendar/county/deadline?start=2027-03-01T10:00:00%2B08:00&workdays=1", "mediator")
    assert r.get_json()["deadline"] == "2027-03-02T23:59:59+08:00"
    r = api.post("/calendar/county/days", "admin", json={"day": "2027-03-02", "kind": "off", "note": "地方假日"})
    assert r.status_code == 201, r.get_json()
    r = api.get("/calendar/county/deadline?start=2027-03-01T10:00:00%2B08:00&workdays=1", "mediator")
    assert r.get_json()["deadline"] == "2027-03-03T23:59:59+08:00"
    days = api.get("/calendar/county/days?year=2027", "mediator").get_json()
    assert days["items"] == [{"day": "2027-03-02", "kind": "off", "note": "地方假日"}]
    assert api.post("/calendar/county/days", "mediator", json={"day": "2027-03-04", "kind": "off"}).status_code == 403
    assert api.post("/calendar/county/days", "admin", json={"day": "2027-03-06", "kind": "off"}).status_code == 422
    assert api.post("/calendar/county/days", "admin", json={"day": "someday", "kind": "off"}).status_code == 422
    assert api.post("/calendar/town1/days", "admin", json={"day": "2027-03-04", "kind": "off"}).status_code == 404
    assert api.call("DELETE", "/calendar/county/days/2027-03-02", "admin").status_code == 204
    r = api.get("/calendar/county/deadline?start=2027-03-01T10:00:00%2B08:00&workdays=1", "mediator")
    assert r.get_json()["deadline"] == "2027-03-02T23:59:59+08:00"


def test_an_org_units_lineage_runs_from_the_top_to_itself(org):
    from app.org.models import path_ids

    county, town, village = (org.units[code] for code in ("county", "town1", "village1"))
    assert village.lineage_ids == [county.id, town.id, village.id]
    assert county.lineage_ids == [county.id]
    assert path_ids("/1/4/9/") == [1, 4, 9]
    assert path_ids("/") == path_ids(None) == []
