"""Reading the JSON Schemas of task forms: local references, and the fields that hold files.

Shared by the form renderer of the browser (`app.web.formrender`) and the task service, which checks
that a completion's files are files of its case whoever sends it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: the JSON Schema `format` of a field that holds an uploaded file (react-jsonschema-form's word); its
#: value in the task's data is the attachment's id, as text
FILE_FORMAT = "data-url"


def _pointer(root: Mapping[str, Any], ref: str) -> Any:
    node: Any = root
    for part in ref.lstrip("#").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return node


def resolve(schema: Any, root: Mapping[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """Follow local `$ref`s and fold `allOf` into one schema (the first word on a keyword wins)."""
    if not isinstance(schema, Mapping):
        return {}
    root = root if root is not None else schema
    result = dict(schema)
    if depth > 16:
        return result
    ref = result.pop("$ref", None)
    if isinstance(ref, str) and ref.startswith("#"):
        result = {**resolve(_pointer(root, ref), root, depth + 1), **result}
    for part in result.pop("allOf", None) or []:
        sub = resolve(part, root, depth + 1)
        for key, value in sub.items():
            if key == "properties" and isinstance(value, Mapping):
                result["properties"] = {**value, **(result.get("properties") or {})}
            elif key == "required" and isinstance(value, list):
                result["required"] = list(dict.fromkeys([*(result.get("required") or []), *value]))
            else:
                result.setdefault(key, value)
    return result


def file_references(schema: Mapping[str, Any], data: Any) -> list[tuple[str, Any]]:
    """Each value of `data` that a file field of `schema` holds, with its dotted path (`evidence.1`,
    `parties.0.id_card`), in the order of the data."""
    return list(_files(resolve(schema), data, "", schema, 0))


def _files(schema: dict[str, Any], value: Any, path: str, root: Mapping[str, Any], depth: int
           ) -> Iterator[tuple[str, Any]]:
    if depth > 16:
        return
    if schema.get("format") == FILE_FORMAT:
        if value is not None:
            yield path, value
        return
    if isinstance(value, Mapping):
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                yield from _files(resolve(sub, root), value[key], f"{path}.{key}" if path else key, root, depth + 1)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        items = resolve(schema["items"], root)
        for i, item in enumerate(value):
            yield from _files(items, item, f"{path}.{i}" if path else str(i), root, depth + 1)
