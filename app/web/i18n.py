"""Translations: Chinese is the source language of every message; English comes from a catalog.

The catalogs (`app/translations/<lang>/LC_MESSAGES/messages.po`) are compiled to `.mo` when the app
starts and the `.po` is newer, so there is no build step to forget.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask_babel import get_locale

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def compile_catalogs() -> None:
    """Compile every messages.po whose .mo is missing or older."""
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo)


def duration_text(delta: timedelta, *, overdue: bool) -> str:
    """A human duration: "2天3小时" / "2d 3h"; overdue ones read "已超期1天" / "1d overdue"."""
    total_minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(total_minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    english = str(get_locale() or "zh").startswith("en")
    if english:
        parts = [f"{days}d"] if days else []
        if hours or (days and not minutes):
            parts.append(f"{hours}h")
        if not days and not hours:
            parts.append(f"{max(minutes, 1)}min")
        text = " ".join(parts[:2])
        return f"{text} overdue" if overdue else f"{text} left"
    parts_zh = [f"{days}天"] if days else []
    if hours:
        parts_zh.append(f"{hours}小时")
    if not days and not hours:
        parts_zh.append(f"{max(minutes, 1)}分钟")
    text = "".join(parts_zh[:2])
    return f"已超期{text}" if overdue else text
