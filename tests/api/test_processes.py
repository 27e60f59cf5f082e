"""Deployments: versions, pinning, validation errors with file and line, bad uploads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

BUNDLES = Path(__file__).parent / "bundles"


def read(*names: str) -> dict[str, str]:
    return {n: (BUNDLES / n).read_text() for n in names}


def test_versions_and_running_cases_stay_on_theirs(api):
    assert api.deploy(read("two_step.bpmn", "triage.json", "opinion.json")).get_json()["version"] == 1
    old_case = api.intake(process_id="two_step").get_json()["case_no"]

    changed = read("two_step.bpmn")["two_step.bpmn"].replace('name="分流"', 'name="分流（新）"')
    r = api.deploy({"two_step.bpmn": changed})  # forms were published before: the bundle may reference them
    assert r.status_code == 201 and r.get_json()["version"] == 2
    new_case = api.intake(process_id="two_step").get_json()["case_no"]

    versions = api.get("/processes/two_step/versions", "designer").get_json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert api.get("/processes", "mediator").get_json()["items"][0]["version"] == 2

    old = api.get(f"/cases/{old_case}", "admin").get_json()
    new = api.get(f"/cases/{new_case}", "admin").get_json()
    assert old["process"] == {"id": "two_step", "version": 1}
    assert new["process"] == {"id": "two_step", "version": 2}
    titles = {t["case_no"]: t["title"] for t in api.get("/tasks?scope=all", "admin").get_json()["items"]}
    assert titles == {old_case: "分流", new_case: "分流（新）"}


def test_a_decision_published_alone_applies_to_new_cases_only(api):
    assert api.deploy(read("routed.bpmn", "route.dmn")).status_code == 201
    first = api.intake(process_id="routed", category="labour").get_json()["case_no"]
    assert api.get(f"/cases/{first}", "admin").get_json()["lead_department"] == "hrss"

    newer = read("route.dmn")["route.dmn"].replace('"hrss"', '"housing"')
    r = api.deploy({"route.dmn": newer})
    assert r.status_code == 201 and r.get_json()["decisions"] == [{"id": "route", "version": 2}]
    second = api.intake(process_id="routed", category="labour").get_json()["case_no"]
    assert api.get(f"/cases/{second}", "admin").get_json()["lead_department"] == "housing"
    # the first case keeps its rules: complete it and it still says hrss
    [task] = api.get(f"/tasks?scope=all&case_no={first}", "admin").get_json()["items"]
    r = api.post(f"/tasks/{task['id']}/complete", "mediator", json={"data": {}})
    assert r.get_json()["lead_department"] == "hrss" and r.get_json()["status"] == "closed"


def test_broken_bundle_names_file_and_line_and_publishes_nothing(api):
    good = read("two_step.bpmn", "triage.json", "opinion.json")
    bad_timer = read("timers.bpmn")["timers.bpmn"].replace(
        "<bpmn:timeDuration>remind_after</bpmn:timeDuration>", "<bpmn:timeDuration>PT2S</bpmn:timeDuration>")
    files = {**good, "timers.bpmn": bad_timer, "broken.bpmn": "<bpmn:definitions", "form.json": "{\"type\": 12}"}
    r = api.deploy(files)
    assert r.status_code == 422
    fields = r.get_json()["fields"]
    assert fields["broken.bpmn"].startswith("line 1:")
    assert "PT2S" in fields["timers.bpmn"] and "line " in fields["timers.bpmn"]
    assert "form.json" in fields
    assert api.get("/processes", "designer").get_json()["items"] == []


def test_unknown_role_lane_and_missing_form(api):
    bpmn = read("two_step.bpmn")["two_step.bpmn"].replace('name="department"', 'name="bureau"')
    r = api.deploy({"two_step.bpmn": bpmn})
    assert r.status_code == 422
    message = r.get_json()["fields"]["two_step.bpmn"]
    assert "bureau" in message and "triage.json" in message


@pytest.mark.parametrize("files,field", [
    ({"notes.txt": "hello"}, "notes.txt"),
    ({"x.bpmn": b"\xff\xfe\x00"}, "x.bpmn"),
])
def test_unreadable_files(api, files, field):
    r = api.deploy(files)
    assert r.status_code == 422 and field in r.get_json()["fields"]


def test_upload_limits_and_permissions(api, app):
    assert api.post("/processes", "designer", data={}, content_type="multipart/form-data").status_code == 422
    assert api.deploy(read("two_step.bpmn"), user="mediator").status_code == 403
    # a raw 20 MB multipart body (the test client would spool a dict body to a temp file)
    body = (b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bpmn\"\r\n\r\n<a>"
            + b" " * (20 * 1024 * 1024) + b"</a>\r\n--b--\r\n")
    r = api.post("/processes", "designer", data=body, content_type="multipart/form-data; boundary=b")
    assert r.status_code == 413 and r.get_json()["error"] == "too_large"
    assert api.get("/processes/nope/versions", "designer").status_code == 404


def test_cli_deploy_reports_file_and_line(tmp_path, config, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("ONESTOP_DATABASE_URL", config.database_url)
    (tmp_path / "bad.bpmn").write_text('<?xml version="1.0"?>\n<bpmn:definitions\n')
    assert main(["deploy", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"bad\.bpmn:\d+: ", err), err
    assert "nothing was published" in err
    good = tmp_path / "good"
    good.mkdir()
    for name, text in read("two_step.bpmn", "triage.json", "opinion.json").items():
        (good / name).write_text(text)
    assert main(["deploy", str(good)]) == 0
    assert "process two_step version 1" in capsys.readouterr().out
    assert main(["deploy", str(tmp_path / "missing")]) == 2


def test_a_pin_remembered_from_a_rolled_back_transaction_is_not_used(api, database):
    """Case starts remember which files they pinned per newest deployment; a pin whose row was rolled
    back is worked out again, and a new deployment pins anew."""
    from sqlalchemy import select

    from app.processes.models import RuntimeSpec
    from app.processes.service import latest_process_version, pin_runtime_spec

    assert api.deploy(read("routed.bpmn", "route.dmn")).status_code == 201
    with pytest.raises(RuntimeError), database.unit_of_work() as s:
        assert s.get(RuntimeSpec, pin_runtime_spec(s, latest_process_version(s, "routed"))) is not None
        raise RuntimeError("rolled back")
    with database.unit_of_work() as s:
        assert s.scalars(select(RuntimeSpec)).all() == []
        first = pin_runtime_spec(s, latest_process_version(s, "routed"))
    with database.unit_of_work() as s:
        again = pin_runtime_spec(s, latest_process_version(s, "routed"))
        assert again == first and s.get(RuntimeSpec, first) is not None
    newer = read("route.dmn")["route.dmn"].replace('"hrss"', '"housing"')
    assert api.deploy({"route.dmn": newer}).status_code == 201
    with database.unit_of_work() as s:
        assert pin_runtime_spec(s, latest_process_version(s, "routed")) != first


def test_first_start_publishes_the_shipped_bundle_once_and_audits_it(app, config):
    import dataclasses

    from sqlalchemy import func, select

    from app import create_app
    from app.audit.service import list_entries
    from app.processes.models import Deployment, ProcessVersion

    database = app.extensions["onestop.db"]  # the tables exist; nothing is deployed
    for _ in range(2):  # the second start finds versions and publishes nothing
        create_app(dataclasses.replace(config, auto_deploy=True)).extensions["onestop.db"].dispose()
    with database.unit_of_work(write=False) as s:
        [deployment] = s.scalars(select(Deployment)).all()
        assert (deployment.source, deployment.created_by_id) == ("auto", None)
        assert s.scalar(select(func.count()).select_from(ProcessVersion)) == 4
        # governance's trail starts with it: the system published these versions
        [(entry, actor)] = list_entries(s)
        assert (entry.action, entry.subject_id, actor) == ("publish", str(deployment.id), None)
        assert "mediation v1" in entry.summary and "intake.json v1" in entry.summary
