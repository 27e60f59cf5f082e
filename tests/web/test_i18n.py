"""Every message the UI shows in Chinese has an English translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = ROOT / "app" / "translations" / "en" / "LC_MESSAGES"


def english() -> dict[tuple[str | None, str], str]:
    """Each English message by its context (None for none) and its Chinese."""
    messages: dict[tuple[str | None, str], str] = {}
    for po in CATALOGS.glob("*.po"):
        with po.open("rb") as f:
            for message in read_po(f):
                if message.id:
                    msgid = message.id if isinstance(message.id, str) else message.id[0]
                    messages[(message.context, msgid)] = message.string
    return messages


def test_every_ui_message_has_english():
    method_map = [("app/**.py", "python"), ("app/web/templates/**.html", "jinja2")]
    options = {"app/web/templates/**.html": {"extensions": "jinja2.ext.do"}}
    known = english()
    missing = []
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map=method_map, options_map=options):
        msgid = message if isinstance(message, str) else message[0]
        if not known.get((context, msgid)):
            missing.append(f"{filename}:{lineno}: {msgid}" + (f" (context {context!r})" if context else ""))
    assert missing == [], "add English to a .po in app/translations/en/LC_MESSAGES/:\n" + "\n".join(missing)
