"""A case's files through the API: added (all or none), listed, downloaded by those who see the case;
a task's file field takes only the ids of its own case's files."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.attachments.models import Attachment
from app.attachments.service import MAX_BYTES
from app.cases.models import CaseStatus, MediationCase
from app.processes.service import read_bundle_dir
from app.tasks.models import HumanTask, TaskStatus
from tests.conftest import ROOT

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def case_no(api: Any) -> str:
    files = {**read_bundle_dir(ROOT / "processes"), **read_bundle_dir(ROOT / "forms")}
    assert api.deploy(files).status_code == 201
    r = api.intake()
    assert r.status_code == 201, r.get_json()
    return r.get_json()["case_no"]


def upload(api: Any, case_no: str, user: str, *files: tuple[bytes, str]) -> Any:
    """Post the files as parts named file (encoded in memory: no temporary files left open)."""
    parts = MultiDict([("file", FileStorage(io.BytesIO(content), filename=name)) for content, name in files])
    boundary, body = encode_multipart(parts)
    return api.post(f"/cases/{case_no}/attachments", user, data=body,
                    content_type=f"multipart/form-data; boundary={boundary}")


def stored(database: Any) -> int:
    with database.unit_of_work(write=False) as s:
        return s.scalar(select(func.count()).select_from(Attachment))


def test_files_added_to_a_case_are_listed_and_downloaded(api, case_no):
    r = upload(api, case_no, "receiver", (PDF, "欠条.pdf"), (PNG, "现场.png"))
    assert r.status_code == 201, r.get_json()
    items = r.get_json()["items"]
    assert [(i["filename"], i["content_type"], i["size"], i["uploaded_by"]) for i in items] == [
        ("欠条.pdf", "application/pdf", len(PDF), "receiver"), ("现场.png", "image/png", len(PNG), "receiver")]
    assert items[0]["url"] == f"/api/v1/attachments/{items[0]['id']}" and items[0]["created_at"].endswith("+08:00")

    [added] = [e for e in api.get(f"/cases/{case_no}", "mediator").get_json()["timeline"] if e["kind"] == "files_added"]
    assert (added["actor"], added["message"]) == ("receiver", "欠条.pdf、现场.png")
    assert [f["filename"] for f in added["data"]["files"]] == ["欠条.pdf", "现场.png"]

    listed = api.get(f"/cases/{case_no}/attachments", "mediator").get_json()["items"]
    assert [i["id"] for i in listed] == [i["id"] for i in items]
    r = api.get(f"/attachments/{items[0]['id']}", "mediator")
    assert r.status_code == 200 and r.data == PDF and r.mimetype == "application/pdf"
    assert r.headers["X-Content-Type-Options"] == "nosniff"

    # a department the case was never sent to sees none of it, and cannot add to it
    assert api.get(f"/cases/{case_no}/attachments", "hrss").status_code == 404
    assert api.get(f"/attachments/{items[0]['id']}", "hrss").status_code == 404
    assert upload(api, case_no, "hrss", (PDF, "a.pdf")).status_code == 404
    assert api.get("/attachments/999999", "mediator").status_code == 404
    assert api.get(f"/cases/{case_no}/attachments").status_code == 401


def test_a_bad_file_keeps_none_of_the_upload(api, case_no, database):
    r = upload(api, case_no, "receiver", (PDF, "欠条.pdf"), (b"MZ\x90\0", "工具.exe"))
    assert r.status_code == 422
    assert r.get_json()["fields"] == {"file": "工具.exe: images, PDF or office documents only"}
    r = upload(api, case_no, "receiver", (PDF, "欠条.pdf"), (b"%PDF-" + b"0" * MAX_BYTES, "扫描件.pdf"))
    assert r.status_code == 422 and r.get_json()["fields"]["file"].startswith("扫描件.pdf: at most 10 MB")
    r = upload(api, case_no, "receiver", *[(PNG, f"{i}.png") for i in range(6)])
    assert r.status_code == 422 and r.get_json()["fields"] == {"file": "at most 5 files"}
    r = api.post(f"/cases/{case_no}/attachments", "receiver", json={"file": "欠条.pdf"})
    assert r.status_code == 422 and r.get_json()["fields"] == {"file": "required"}
    assert stored(database) == 0

    with database.unit_of_work() as s:
        s.scalar(select(MediationCase).where(MediationCase.case_no == case_no)).status = CaseStatus.closed
    r = upload(api, case_no, "receiver", (PDF, "欠条.pdf"))
    assert r.status_code == 409 and stored(database) == 0
    assert upload(api, "QX-2000-000001", "receiver", (PDF, "欠条.pdf")).status_code == 404


def test_a_task_file_field_takes_the_ids_of_its_own_case_files(api, case_no, database):
    [pdf] = upload(api, case_no, "receiver", (PDF, "欠条.pdf")).get_json()["items"]
    other = api.intake(title="另一件").get_json()["case_no"]
    [foreign] = upload(api, other, "receiver", (PNG, "别的.png")).get_json()["items"]
    [task] = api.get(f"/tasks?scope=group&case_no={case_no}", "receiver").get_json()["items"]
    assert task["name"] == "intake"

    for materials, path in (([str(foreign["id"])], "materials.0"), ([str(pdf["id"]), "x"], "materials.1"),
                            ([str(pdf["id"]), "999999"], "materials.1")):
        r = api.post(f"/tasks/{task['id']}/complete", "receiver",
                     json={"data": {"category": "labour", "materials": materials}})
        assert r.status_code == 422, r.get_json()
        assert r.get_json()["fields"] == {path: "not a file of this case (add it to the case first)"}
    with database.unit_of_work(write=False) as s:
        assert s.get(HumanTask, task["id"]).status == TaskStatus.open  # nothing changed

    r = api.post(f"/tasks/{task['id']}/complete", "receiver",
                 json={"data": {"category": "labour", "materials": [str(pdf["id"])]}})
    assert r.status_code == 200, r.get_json()
    with database.unit_of_work(write=False) as s:
        assert s.get(HumanTask, task["id"]).data["materials"] == [str(pdf["id"])]
