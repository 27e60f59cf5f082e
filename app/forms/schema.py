"""Reading the JSON Schemas of task forms: local references, the fields that hold files or name a
person, and the fields that belong to one choice (if/then).

Shared by the form renderer of the browser (`app.web.formrender`) and the task service, which checks
that a completion's files are files of its case, and the people it names users who may be named,
whoever sends it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: the JSON Schema `format` of a field that holds an uploaded file (react-jsonschema-form's word); its
#: value in the task's data is the attachment's id, as text
FILE_FORMAT = "data-url"
#: the `format` of a field that names a OneStop user by username (a task the process assigns to that
#: person: the receiving leader of the day); `ROLE_KEYWORD` says which role's users it offers
USER_FORMAT = "username"
ROLE_KEYWORD = "x-role"


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
    return [(path, value) for path, value, _field in _held(resolve(schema), data, "", schema, 0, FILE_FORMAT)]


def person_role(field: Mapping[str, Any]) -> str | None:
    """The role whose people a person field offers (its `x-role`), None for any user."""
    role = field.get(ROLE_KEYWORD)
    return role if isinstance(role, str) and role else None


def user_references(schema: Mapping[str, Any], data: Any) -> list[tuple[str, Any, str | None]]:
    """Each value of `data` that a person field of `schema` holds (`format: username`), with its
    dotted path and the role the field offers (`person_role`)."""
    return [(path, value, person_role(field))
            for path, value, field in _held(resolve(schema), data, "", schema, 0, USER_FORMAT)]


def takes_files(field: Mapping[str, Any], root: Mapping[str, Any]) -> bool | None:
    """Whether a (resolved) field holds files: None when it does not, else whether it takes several
    (an array of them). The schema alone says so (`format: data-url`), for the browser's form and the
    server's check of what a completion refers to alike."""
    if field.get("format") == FILE_FORMAT:
        return False
    if field.get("type") == "array" and resolve(field.get("items"), root).get("format") == FILE_FORMAT:
        return True
    return None


def file_fields(schema: Mapping[str, Any]) -> dict[str, bool]:
    """{key: takes several files} of the form's top-level file fields."""
    root = resolve(schema)
    found = {}
    for key, sub in (root.get("properties") or {}).items():
        many = takes_files(resolve(sub, schema), schema)
        if many is not None:
            found[key] = many
    return found


def _held(schema: dict[str, Any], value: Any, path: str, root: Mapping[str, Any], depth: int, fmt: str
          ) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(path, value, field schema) of each value of the data a field of format `fmt` holds."""
    if depth > 16:
        return
    if schema.get("format") == fmt:
        if value is not None:
            yield path, value, schema
        return
    if isinstance(value, Mapping):
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                yield from _held(resolve(sub, root), value[key], f"{path}.{key}" if path else key, root, depth + 1,
                                 fmt)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        items = resolve(schema["items"], root)
        for i, item in enumerate(value):
            yield from _held(items, item, f"{path}.{i}" if path else str(i), root, depth + 1, fmt)


@dataclass(frozen=True)
class Branch:
    """A top-level field that belongs to one choice of another (JSON Schema `if`/`then`/`else`): while
    `field` holds one of `values` (for `else`: none of them), the form shows it; otherwise it neither
    shows nor is kept."""

    field: str
    values: tuple[Any, ...]
    negate: bool = False
    #: the branch requires it (`then.required`), not only names it
    required: bool = False

    def holds(self, data: Mapping[str, Any]) -> bool:
        """Whether `data` (the form's top-level values) takes this branch."""
        if self.field not in data:
            return self.negate
        value = data[self.field]
        found = any(value == v and isinstance(value, bool) == isinstance(v, bool) for v in self.values)
        return found != self.negate


def branches(schema: Mapping[str, Any]) -> dict[str, list[Branch]]:
    """{field: its branches} for the top-level fields a form asks only on some choice: those a `then`
    (or `else`) names in `required` or `properties` and the form does not require anyway. Conditions
    read `{"properties": {"<field>": {"const": v}}}` (or `"enum": [...]`), at the top or in `allOf`;
    the form shows a field while any of its branches is taken. Other conditions show their fields always.
    """
    root = resolve(schema)
    properties = root.get("properties") or {}
    required = set(root.get("required") or [])
    found: dict[str, list[Branch]] = {}
    for node in [schema, *(schema.get("allOf") or [])]:
        if not isinstance(node, Mapping):
            continue
        condition = choice_of(node.get("if"))
        if condition is None:
            continue
        key, values = condition
        for word, negate in (("then", False), ("else", True)):
            branch = node.get(word)
            if not isinstance(branch, Mapping):
                continue
            needed = list(branch.get("required") or [])
            for name in dict.fromkeys([*needed, *(branch.get("properties") or {})]):
                if name in properties and name not in required and name != key:
                    found.setdefault(name, []).append(Branch(key, values, negate, name in needed))
    return found


def unchosen(schema: Mapping[str, Any], data: Mapping[str, Any]) -> list[str]:
    """The fields that belong to a choice `data` did not make (see `branches`): what a form that hid
    them does not keep, nor complain about."""
    return [name for name, found in branches(schema).items() if not any(b.holds(data) for b in found)]


def choice_of(test: Any) -> tuple[str, tuple[Any, ...]] | None:
    """(field, values) of an `if` that asks one top-level field for a const or an enum."""
    if not isinstance(test, Mapping) or not isinstance(test.get("properties"), Mapping):
        return None
    if len(test["properties"]) != 1:
        return None
    [(key, sub)] = test["properties"].items()
    if isinstance(sub, Mapping) and "const" in sub:
        return key, (sub["const"],)
    if isinstance(sub, Mapping) and isinstance(sub.get("enum"), list) and sub["enum"]:
        return key, tuple(sub["enum"])
    return None
