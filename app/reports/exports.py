"""The ledger's downloads as HTTP responses, shared by the API and the ledger page.

Both stream while the cases are read: CSV as text, XLSX as a ZIP written row by row
(app.reports.xlsx), so memory stays flat and the first bytes leave at once. Both read the cases in
a session of their own, because a streamed body outlives the request's session.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, stream_with_context
from sqlalchemy import func, select

from app import clock
from app.db import Database
from app.errors import InvalidInput
from app.org.models import User
from app.reports import ledger, xlsx
from app.timeutil import LOCAL_TZ

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def filename(ext: str) -> str:
    """ledger-20261123-0930.csv: the local time of the download."""
    return f"ledger-{clock.now().astimezone(LOCAL_TZ).strftime('%Y%m%d-%H%M')}.{ext}"


def _download(body: Iterator[str] | Iterator[bytes], mimetype: str, ext: str) -> Response:
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename(ext)}"'
    return response


def csv_response(db: Database, user_id: int, filters: ledger.Filters) -> Response:
    def generate() -> Iterator[bytes]:
        with db.unit_of_work(write=False) as session:
            user = session.get(User, user_id)
            yield from ledger.csv_chunks(session, user, filters)

    return _download(generate(), "text/csv", "csv")


def xlsx_response(db: Database, user_id: int, filters: ledger.Filters) -> Response:
    """The XLSX download; InvalidInput (before anything is sent) when the ledger has more rows than
    a sheet holds."""
    with db.unit_of_work(write=False) as session:
        user = session.get(User, user_id)
        count = session.scalar(select(func.count()).select_from(ledger.query(session, user, filters).subquery()))
    if (count or 0) > xlsx.MAX_ROWS - 1:
        limit = f"{xlsx.MAX_ROWS - 1:,}"
        raise InvalidInput(f"{count:,} cases: a spreadsheet holds at most {limit} rows",
                           fields={"from": f"choose a shorter period (at most {limit} cases), or download CSV"})

    def generate() -> Iterator[bytes]:
        with db.unit_of_work(write=False) as session:
            user = session.get(User, user_id)
            yield from ledger.xlsx_chunks(session, user, filters)

    return _download(generate(), XLSX_TYPE, "xlsx")
