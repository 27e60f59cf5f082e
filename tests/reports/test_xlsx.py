"""The streaming XLSX writer: what openpyxl (like Excel) reads back from it."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from app.reports import xlsx


def book(rows, **kwargs):
    data = b"".join(xlsx.stream(["编号", "标题", "数"], [12, 30, 6], rows, every=2, **kwargs))
    return load_workbook(io.BytesIO(data))


def test_values_come_back_as_written():
    rows = [["QX-1", "甲 & 乙 <丙> \"丁\"", 3], ["QX-2", "  前后有空格 ", 2.5], ["QX-3", None, True],
            ["QX-4", "", False], ["QX-5", "控制\x0b字符\x00去掉", -1]]
    sheet = book(rows, title="台账 'x'").active
    assert sheet.title == "台账 'x'"
    assert list(sheet.iter_rows(values_only=True)) == [
        ("编号", "标题", "数"), ("QX-1", "甲 & 乙 <丙> \"丁\"", 3), ("QX-2", "  前后有空格 ", 2.5),
        ("QX-3", None, True), ("QX-4", None, False), ("QX-5", "控制字符去掉", -1)]
    assert sheet.freeze_panes == "B2"
    assert sheet.auto_filter.ref == "A1:C6"
    assert [sheet.column_dimensions[c].width for c in "ABC"] == [12, 30, 6]
    assert sheet["A1"].font.b and sheet["A1"].fill.fgColor.rgb == "FFE8EEF7"
    assert not sheet["A2"].font.b


def test_no_rows_and_no_frozen_pane():
    sheet = book([], freeze="A1").active
    assert list(sheet.iter_rows(values_only=True)) == [("编号", "标题", "数")]
    assert sheet.freeze_panes is None


def test_only_the_header_row_frozen():
    sheet = book([["QX-1", "甲", 1]], freeze="A2").active
    assert sheet.freeze_panes == "A2"
    assert sheet.sheet_view.pane.activePane == "bottomLeft" and sheet.sheet_view.pane.xSplit in (None, 0)


def test_a_row_past_the_last_of_a_sheet_is_refused(monkeypatch):
    monkeypatch.setattr(xlsx, "MAX_ROWS", 3)
    with pytest.raises(xlsx.TooManyRows):
        b"".join(xlsx.stream(["a"], [5], [["x"]] * 3))
    assert len(b"".join(xlsx.stream(["a"], [5], [["x"]] * 2))) > 0


def test_column_letters():
    assert [xlsx.column_letter(i) for i in (1, 26, 27, 52, 703)] == ["A", "Z", "AA", "AZ", "AAA"]
