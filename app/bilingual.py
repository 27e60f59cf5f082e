"""Bilingual titles: the BPMN labels, form titles and choices OneStop ships read "中文 English", one text
for both languages of the UI (and of a notification, which is Chinese)."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def split_title(text: str | None) -> tuple[str, str]:
    """("中文", "English") of "中文 English"; text in one language comes back twice.

    The Chinese part ends after its last Chinese character and whatever sticks to it up to the next
    space or Latin letter (brackets, a question mark, a number: "村(社区) Village", "到县级? County?").
    """
    text = (text or "").strip()
    ends = [match.end() for match in _CJK.finditer(text)]
    if not ends:
        return text, text
    end = ends[-1]
    while end < len(text) and not text[end].isspace() and not (text[end].isascii() and text[end].isalpha()):
        end += 1
    chinese, english = text[:end].strip(), text[end:].strip()
    if not chinese or not re.search(r"[A-Za-z]", english):
        return text, text
    return chinese, english
