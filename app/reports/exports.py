"""The ledger's downloads as HTTP responses, shared by the API and the ledger page.

CSV streams while the cases are read; the XLSX workbook is written row by row to a temporary file
(openpyxl's write-only mode keeps memory flat) and then streamed and deleted. Both read the cases in a
session of their own, because a streamed body outlives the request's session.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

from flask import Response, stream_with_context

from app import clock
from app.db import Database
from app.org.models import User
from app.reports import ledger
from app.timeutil import LOCAL_TZ

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def filename(ext: str) -> str:
    """ledger-20261123-0930.csv: the local time of the download."""
    return f"ledger-{clock.now().astimezone(LOCAL_TZ).strftime('%Y%m%d-%H%M')}.{ext}"


def csv_response(db: Database, user_id: int, filters: ledger.Filters) -> Response:
    def generate() -> Iterator[str]:
        with db.unit_of_work(write=False) as session:
            user = session.get(User, user_id)
            yield from ledger.csv_chunks(ledger.iterate(session, user, filters), ledger.Names(session))

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename("csv")}"'
    return response


def xlsx_response(db: Database, user_id: int, filters: ledger.Filters) -> Response:
    handle, path = tempfile.mkstemp(prefix="onestop-ledger-", suffix=".xlsx")
    os.close(handle)
    try:
        with db.unit_of_work(write=False) as session:
            user = session.get(User, user_id)
            ledger.write_xlsx(ledger.iterate(session, user, filters), ledger.Names(session), path)
    except BaseException:
        os.unlink(path)
        raise

    def generate() -> Iterator[bytes]:
        try:
            with open(path, "rb") as f:
                while chunk := f.read(256 * 1024):
                    yield chunk
        finally:
            os.unlink(path)

    response = Response(generate(), mimetype=XLSX_TYPE)
    response.headers["Content-Length"] = str(os.path.getsize(path))
    response.headers["Content-Disposition"] = f'attachment; filename="{filename("xlsx")}"'
    return response
