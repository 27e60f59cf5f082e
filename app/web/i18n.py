"""Translations: Chinese is the source language of every message; English comes from a catalog.

Each UI area keeps its own catalog (`app/translations/<lang>/LC_MESSAGES/<area>.po`); they are merged
and compiled to `messages.mo` when the app starts and any `.po` is newer, so there is no build step
to forget.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask_babel import get_locale

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def compile_catalogs() -> None:
    """Merge each language's .po files (one per UI area) into messages.mo when any is newer."""
    for folder in TRANSLATIONS.glob("*/LC_MESSAGES"):
        sources = sorted(folder.glob("*.po"))
        mo = folder / "messages.mo"
        if not sources or (mo.exists() and mo.stat().st_mtime >= max(p.stat().st_mtime for p in sources)):
            continue
        merged = None
        for po in sources:
            with po.open("rb") as f:
                catalog = read_po(f)
            if merged is None:
                merged = catalog
            else:
                for message in catalog:
                    if message.id:
                        merged[message.id] = message
        tmp = folder / f"messages.mo.{os.getpid()}.tmp"
        with tmp.open("wb") as f:
            write_mo(f, merged)
        tmp.replace(mo)


def duration_text(delta: timedelta, *, overdue: bool) -> str:
    """A human duration left: "剩余2天3小时" / "2d 3h left"; overdue ones read "已超期1天" / "1d overdue".
    Said in words both ways: a bare "1天18小时" beside a due time could be read as the time overdue."""
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
    return f"已超期{text}" if overdue else f"剩余{text}"
