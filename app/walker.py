"""A generic case walker: fill any task form's JSON Schema with plausible data and complete tasks.

The walker knows nothing about a process. It reads the open task's JSON Schema, builds data that
satisfies it (required fields, plus optional fields that carry a default), and completes the task.
Choices (enum options, booleans, oneOf branches) lean towards the first or "affirmative" option with
probability `affirmative` and are random otherwise, so different cases take different branches.
Used by `onestop seed-demo`, tests and benchmarks.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import re
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.errors import DomainError
from app.forms.schema import file_fields, unchosen
from app.org.models import Department, User
from app.tasks.models import HumanTask
from app.tasks.service import can_see_all, complete_task, list_tasks, task_form
from app.timeutil import LOCAL_TZ, local_iso

log = logging.getLogger(__name__)

#: how deep nested objects may go (guards against schemas that require themselves)
MAX_DEPTH = 12
#: how many fixes the filled data may need against the schema's conditionals
REPAIR_ROUNDS = 32

_AFFIRMATIVE_TOKENS = frozenset({
    "yes", "y", "true", "ok", "agree", "agreed", "accept", "accepted", "approve", "approved", "confirm",
    "confirmed", "resolved", "settled", "solved", "satisfied", "success", "succeeded", "done", "complete",
    "completed", "closed", "pass", "passed", "handled", "finished", "valid",
})
_NEGATIVE_TOKENS = frozenset({
    "no", "not", "none", "false", "reject", "rejected", "refuse", "refused", "disagree", "fail", "failed",
    "unresolved", "unsatisfied", "dissatisfied", "deny", "denied", "return", "returned", "invalid",
    "escalate", "escalated", "reopen", "reopened", "unsolved", "partial",
})
_AFFIRMATIVE_ZH = ("同意", "满意", "解决", "化解", "办结", "通过", "成功", "受理", "是", "确认", "完成")
_NEGATIVE_ZH = ("不", "未", "无", "否", "拒", "驳", "退", "重新")

_DEPARTMENT_KEY = re.compile(r"(.*[_.])?(departments?|depts?)", re.IGNORECASE)
_DEPARTMENT_TITLE = re.compile(r"(部门|单位|departments?|depts?)\s*$", re.IGNORECASE)
_FUTURE_DATE_KEY = re.compile(
    r"due|until|deadline|extend|extension|meeting|schedule|plan|next|截止|延期|会议|预约", re.IGNORECASE)

_NUMBER_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_SURNAMES = "张王李赵刘陈杨黄吴周徐孙马朱胡郭何高林罗"
_GIVEN_NAMES = ("建国", "秀英", "桂兰", "志强", "海燕", "国庆", "玉梅", "伟", "芳", "军", "丽娟", "春生",
                "德明", "永福", "金花", "文斌", "红霞", "立新")

#: Chinese phrases by what a field's name or title suggests, first match wins
_PHRASES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("reason", "why", "原因", "理由"), (
        "经核实，该事项不属于本部门职责范围，建议改派至主管部门。",
        "当事人补充材料尚未齐全，需延期核实。",
        "涉及多个部门职能交叉，需联合研究。",
    )),
    (("opinion", "comment", "view", "意见", "看法"), (
        "经核查，诉求基本属实，建议依法依规予以处理。",
        "本部门同意牵头办理，三个工作日内反馈进展。",
        "建议组织双方当事人面对面调解，本部门派员参加。",
    )),
    (("reply", "answer", "explain", "response", "回复", "答复", "解释"), (
        "已向当事人当面解释相关政策，当事人表示理解。",
        "经协调，相关款项将于本月底前支付到位，已书面告知当事人。",
    )),
    (("result", "outcome", "resolution", "summary", "conclusion", "结果", "结论", "化解", "总结"), (
        "双方达成调解协议，款项已当场结清，矛盾纠纷已化解。",
        "经联合调处，双方就赔偿金额达成一致，签订人民调解协议书。",
        "已按政策落实补偿，当事人不再上访。",
    )),
    (("plan", "measure", "action", "step", "方案", "措施", "安排"), (
        "由司法所牵头，相关部门配合，本周内组织联合调处。",
        "先行开展法律咨询，再组织双方当事人现场协商。",
    )),
    (("agreement", "协议"), (
        "双方自愿达成如下协议：一方于十日内一次性支付赔偿款，另一方不再追究。",
    )),
    (("feedback", "callback", "satisf", "回访", "满意", "评价"), (
        "当事人对处理结果表示满意。",
        "回访时当事人表示问题已解决。",
    )),
    (("title", "subject", "标题", "事由"), ("关于矛盾纠纷办理情况的说明",)),
    (("address", "location", "place", "地址", "地点", "位置"), (
        "青溪县河口镇柳树村3组", "青溪县山前镇石桥村5组",
    )),
    (("note", "remark", "memo", "description", "content", "detail", "备注", "说明", "描述", "内容", "情况"), (
        "已电话联系当事人，情况属实。",
        "已现场核实，相关材料已归档。",
    )),
)
_PADDING = ("具体情况详见附件材料。", "已告知当事人相关权利义务。", "相关部门将继续跟踪落实。")
_DEFAULT_PHRASES = ("已按程序办理，情况属实。", "已核实，同意办理。")


class WalkError(RuntimeError):
    """Walking a case failed: a form could not be filled or the process raised an incident."""


def phone_number(rng: random.Random) -> str:
    """Return a synthetic mobile number of the form 138xxxxxxxx."""
    return f"138{rng.randrange(10**8):08d}"


def person_name(rng: random.Random) -> str:
    """Return a synthetic Chinese personal name."""
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN_NAMES)


def _merge(schemas: Sequence[Any]) -> dict[str, Any]:
    """Merge schemas as allOf would: properties merged, required united, enums intersected, first wins."""
    merged: dict[str, Any] = {}
    for schema in schemas:
        if not isinstance(schema, dict):
            continue
        for key, value in schema.items():
            if key not in merged:
                merged[key] = copy.copy(value)
            elif key == "properties" and isinstance(value, dict):
                props = dict(merged[key])
                for name, sub in value.items():
                    props[name] = {"allOf": [props[name], sub]} if name in props else sub
                merged[key] = props
            elif key == "required" and isinstance(value, list):
                merged[key] = list(dict.fromkeys([*merged[key], *value]))
            elif key == "enum" and isinstance(value, list):
                common = [v for v in merged[key] if v in value]
                merged[key] = common or merged[key]
    return merged


def _looks_affirmative(option: Any, label: str = "") -> bool | None:
    """True for yes-like options, False for no-like ones, None when it cannot tell."""
    if option is True:
        return True
    if option is False or option is None:
        return False
    text = f"{option} {label}".lower()
    tokens = set(re.split(r"[^a-z0-9]+", text))
    if tokens & _NEGATIVE_TOKENS or any(text.lstrip().startswith(p) for p in ("un", "dis", "non")) \
            or any(w in text for w in _NEGATIVE_ZH):
        return False
    if tokens & _AFFIRMATIVE_TOKENS or any(w in text for w in _AFFIRMATIVE_ZH):
        return True
    return None


class _Filler:
    """Builds one form's data; holds the root schema (for $ref) and the choices' randomness."""

    def __init__(self, root: dict[str, Any], rng: random.Random, department_codes: Sequence[str],
                 affirmative: float) -> None:
        self.root = root
        self.rng = rng
        self.codes = list(department_codes)
        self.affirmative = affirmative

    # --- schema helpers -------------------------------------------------------------------------

    def resolve(self, schema: Any, depth: int = 0) -> Any:
        """Follow local $refs and fold allOf into one schema."""
        if not isinstance(schema, dict) or depth > 20:
            return schema
        if "$ref" in schema:
            target = self._pointer(schema["$ref"])
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = _merge([rest, self.resolve(target, depth + 1)])
        if "allOf" in schema:
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            schema = _merge([rest, *(self.resolve(s, depth + 1) for s in schema["allOf"])])
            return self.resolve(schema, depth + 1)
        return schema

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                node = node.get(part, {})
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def _schemas_at(self, schema: Any, path: Sequence[Any]) -> list[dict[str, Any]]:
        """Every subschema that applies to the instance at `path` (all branches, in document order)."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return []
        found: list[dict[str, Any]] = []
        if not path:
            found.append(schema)
        else:
            head, rest = path[0], path[1:]
            if isinstance(head, str):
                if head in schema.get("properties", {}):
                    found += self._schemas_at(schema["properties"][head], rest)
                for dep in (schema.get("dependentSchemas") or {}).values():
                    found += self._schemas_at(dep, path)
                if isinstance(schema.get("additionalProperties"), dict):
                    found += self._schemas_at(schema["additionalProperties"], rest)
            else:
                prefix = schema.get("prefixItems") or []
                if head < len(prefix):
                    found += self._schemas_at(prefix[head], rest)
                elif isinstance(schema.get("items"), dict):
                    found += self._schemas_at(schema["items"], rest)
        if path:
            for key in ("anyOf", "oneOf"):
                for sub in schema.get(key, []):
                    found += self._schemas_at(sub, path)
            for key in ("then", "else"):
                if key in schema:
                    found += self._schemas_at(schema[key], path)
        return found

    def _property_schema(self, path: Sequence[Any], name: Any, hint: Any = None) -> Any:
        """The schema of child `name` of the instance at `path`, preferring the one in `hint`."""
        if isinstance(hint, dict):
            hint = self.resolve(hint)
            if isinstance(name, str) and name in hint.get("properties", {}):
                return hint["properties"][name]
        candidates = self._schemas_at(self.root, [*path, name])
        return candidates[0] if candidates else {}

    # --- choices --------------------------------------------------------------------------------

    def _lean(self) -> bool:
        """True when this choice takes the first or affirmative option."""
        return self.rng.random() < self.affirmative

    def choose(self, options: Sequence[Any], labels: Sequence[str] | None = None) -> Any:
        """Pick the affirmative (else first) option, or a random one."""
        if not options:
            return None
        if not self._lean():
            return self.rng.choice(list(options))
        labels = labels or [""] * len(options)
        for option, label in zip(options, labels, strict=False):
            if _looks_affirmative(option, label):
                return option
        return options[0]

    # --- values ---------------------------------------------------------------------------------

    def value(self, schema: Any, key: str = "") -> Any:
        """Build a value that satisfies `schema`; `key` is the field's name (a hint for text)."""
        if key.count(".") > MAX_DEPTH:
            return None  # a schema that requires itself all the way down cannot be filled
        if schema is True or schema is None:
            return self.text({}, key)
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return self.text({}, key)
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            if self._looks_like_department(schema, key):
                return copy.deepcopy(self.rng.choice(schema["enum"]))  # no department is "affirmative"
            return copy.deepcopy(self.choose(schema["enum"]))
        for combinator in ("oneOf", "anyOf"):
            options = [self.resolve(o) for o in schema.get(combinator) or []]
            if options:
                return self._one_of(schema, combinator, options, key)
        kind = self._type(schema)
        if "default" in schema and (kind not in ("boolean",) or self._lean()):
            return copy.deepcopy(schema["default"])
        if kind == "object":
            return self.obj(schema, key)
        if kind == "array":
            return self.array(schema, key)
        if kind in ("integer", "number"):
            return self.number(schema, key, integer=kind == "integer")
        if kind == "boolean":
            return True if self._lean() else self.rng.choice([True, False])
        if kind == "null":
            return None
        return self.text(schema, key)

    def _one_of(self, schema: dict[str, Any], combinator: str, options: list[Any], key: str) -> Any:
        if all(isinstance(o, dict) and "const" in o for o in options):
            consts = [o["const"] for o in options]
            labels = [str(o.get("title", "")) for o in options]
            return copy.deepcopy(self.choose(consts, labels))
        base = {k: v for k, v in schema.items() if k != combinator}
        index = 0 if self._lean() else self.rng.randrange(len(options))
        return self.value(_merge([base, options[index]]), key)

    @staticmethod
    def _type(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema or "minItems" in schema:
            return "array"
        if any(k in schema for k in _NUMBER_KEYWORDS):
            return "number"
        return "string"

    def obj(self, schema: dict[str, Any], key: str = "") -> dict[str, Any]:
        """Fill the required properties and the optional ones that carry a default."""
        prefix = f"{key}." if key else ""
        props: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        result: dict[str, Any] = {}
        for name in schema.get("required") or []:
            sub = props.get(name, extra if isinstance(extra, dict) else {})
            result[name] = self.value(sub, prefix + name)
        for name, sub in props.items():
            if name in result:
                continue
            sub = self.resolve(sub)
            if isinstance(sub, dict) and "default" in sub and not sub.get("readOnly"):
                result[name] = copy.deepcopy(sub["default"])
        for name, needed in (schema.get("dependentRequired") or {}).items():
            if name in result:
                for other in needed:
                    if other not in result:
                        result[other] = self.value(props.get(other, {}), prefix + other)
        return result

    def _looks_like_department(self, schema: dict[str, Any], key: str) -> bool:
        if not self.codes:
            return False
        if any(k.startswith("x-") and "depart" in str(v).lower() for k, v in schema.items()):
            return True
        title = str(schema.get("title", ""))
        return bool(_DEPARTMENT_KEY.fullmatch(key or "")) or bool(_DEPARTMENT_TITLE.search(title))

    def _count(self, schema: dict[str, Any], available: int | None = None) -> int:
        """How many items to put in an array: within minItems..maxItems, at least one, rarely more than 3."""
        low = max(int(schema.get("minItems", 0)), 1)
        high = min(int(schema.get("maxItems", 3)), 3)
        if available is not None:
            low, high = min(low, available), min(high, available)
        return self.rng.randint(low, max(low, high))

    def array(self, schema: dict[str, Any], key: str) -> list[Any]:
        """Fill an array: a subset of the item enum, department codes, or generated items."""
        items = self.resolve(schema.get("items", {}))
        prefix = [self.value(s, key) for s in schema.get("prefixItems") or []]
        if prefix:
            return prefix
        items = items if isinstance(items, dict) else {}
        departments = self._looks_like_department(items, key) or self._looks_like_department(schema, key)
        options: list[Any] | None = None
        if isinstance(items.get("enum"), list):
            options = list(items["enum"])
        elif items.get("oneOf") and all(isinstance(o, dict) and "const" in o for o in items["oneOf"]):
            options = [o["const"] for o in items["oneOf"]]
        elif departments and self._type(items) == "string" and "format" not in items:
            options = list(self.codes)
        if options:
            n = self._count(schema, len(options))
            if self._lean() and not departments:
                ordered = [o for o in options if _looks_affirmative(o)] + options
                picked = [o for i, o in enumerate(ordered) if o not in ordered[:i]][:n]
            else:
                picked = self.rng.sample(options, n)
            return [copy.deepcopy(o) for o in options if o in picked]
        out: list[Any] = []
        for i in range(self._count(schema)):
            item = self.value(items, key)
            if schema.get("uniqueItems") and item in out and isinstance(item, str):
                item = f"{item}（{i + 1}）"
            out.append(item)
        return out

    def number(self, schema: dict[str, Any], key: str, *, integer: bool) -> int | float:
        """A number within the bounds: the top of a small scale when leaning yes, else within range."""
        step = 1 if integer else 0.5
        low = schema.get("minimum")
        if "exclusiveMinimum" in schema:
            bound = schema["exclusiveMinimum"]
            above = math.floor(bound) + 1 if integer else bound + step
            low = above if low is None else max(low, above)
        high = schema.get("maximum")
        if "exclusiveMaximum" in schema:
            bound = schema["exclusiveMaximum"]
            below = math.ceil(bound) - 1 if integer else bound - step
            high = below if high is None else min(high, below)
        if integer:
            low = math.ceil(low) if low is not None else None
            high = math.floor(high) if high is not None else None
        lowered = (key or "").lower() + str(schema.get("title", ""))
        money = any(w in lowered for w in ("amount", "money", "fee", "salary", "wage", "金额", "工资", "费"))
        if low is None and high is None:
            if money:
                value: float = self.rng.randint(10, 300) * 100
            elif any(w in lowered for w in ("count", "number", "people", "persons", "人数", "数量")):
                value = self.rng.randint(1, 20)
            else:
                value = 1
        elif high is None:
            if money:
                value = low + self.rng.randint(10, 300) * 100
            else:
                value = low if self._lean() else low + self.rng.randint(0, 10) * step
        elif low is None:
            value = min(high, 1)
        elif high - low <= 10 and self._lean():
            value = high
        else:
            value = self.rng.randint(low, high) if integer else round(self.rng.uniform(low, high), 2)
        value = min(max(value, low if low is not None else value), high if high is not None else value)
        multiple = schema.get("multipleOf")
        if multiple:
            value = math.ceil(value / multiple) * multiple
            if high is not None and value > high:
                value -= multiple
        return int(value) if integer else float(value)

    def text(self, schema: dict[str, Any], key: str) -> str:
        """A string for the field: a date, code, name, phone or a Chinese sentence fitting its name."""
        fmt = schema.get("format")
        local_now = clock.now().astimezone(LOCAL_TZ)
        hint = f"{key} {schema.get('title', '')}"
        if fmt == "date":
            days = self.rng.randint(1, 5) if _FUTURE_DATE_KEY.search(hint) else 0
            return (local_now + timedelta(days=days)).date().isoformat()
        if fmt == "date-time":
            days = self.rng.randint(1, 5) if _FUTURE_DATE_KEY.search(hint) else 0
            return local_iso(local_now + timedelta(days=days)) or ""
        if fmt == "time":
            return "09:30:00+08:00"
        if fmt in ("email", "idn-email"):
            return "mediation@example.com"
        if fmt in ("uri", "url", "iri", "uri-reference", "iri-reference"):
            return "https://example.com/onestop"
        if fmt == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        department = self._looks_like_department(schema, key)
        text = self.rng.choice(self.codes) if department else self._phrase(hint.lower())
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and not re.search(pattern, text):
            plain = re.sub(r"[，。；：]", "", text)
            candidates = (phone_number(self.rng), plain, person_name(self.rng), "1", "A", "是",
                          local_now.date().isoformat())
            for candidate in candidates:
                if re.search(pattern, candidate):
                    text = candidate
                    break
        min_length = int(schema.get("minLength", 0))
        while len(text) < min_length:
            text += self.rng.choice(_PADDING)
        if "maxLength" in schema:
            text = text[: int(schema["maxLength"])]
        return text

    def _phrase(self, hint: str) -> str:
        if any(w in hint for w in ("phone", "mobile", "tel", "电话", "手机")):
            return phone_number(self.rng)
        if re.search(r"(^|[_.])name\b|姓名|联系人|当事人", hint) and "title" not in hint:
            return person_name(self.rng)
        for words, phrases in _PHRASES:
            if any(w in hint for w in words):
                return self.rng.choice(phrases)
        return self.rng.choice(_DEFAULT_PHRASES)

    # --- repair ---------------------------------------------------------------------------------

    def repair(self, data: dict[str, Any]) -> None:
        """Check the data against the whole schema and patch what conditionals (if/then, ...) still ask."""
        validator = Draft202012Validator(self.root, format_checker=Draft202012Validator.FORMAT_CHECKER)
        for _ in range(REPAIR_ROUNDS):
            errors = sorted(validator.iter_errors(data), key=lambda e: len(e.absolute_path))
            if not errors:
                return
            changed = False
            for error in errors:
                path = list(error.absolute_path)
                target = _at(data, path)
                if error.validator in ("required", "dependentRequired") and isinstance(target, dict):
                    names = error.validator_value if error.validator == "required" else [
                        n for owner, deps in error.validator_value.items() if owner in target for n in deps]
                    for name in names:
                        if name not in target:
                            key = ".".join(str(p) for p in [*path, name])
                            target[name] = self.value(self._property_schema(path, name, error.schema), key)
                            changed = True
                elif path:
                    parent = _at(data, path[:-1])
                    base = self._property_schema(path[:-1], path[-1])
                    replacement = self.value(_merge([self.resolve(base), self.resolve(error.schema)]),
                                             ".".join(str(p) for p in path))
                    if isinstance(parent, (dict, list)) and parent[path[-1]] != replacement:
                        parent[path[-1]] = replacement
                        changed = True
                if changed:
                    break  # validate again: one fix can settle or move other errors
            if not changed:
                return


def _at(data: Any, path: Sequence[Any]) -> Any:
    node = data
    for part in path:
        node = node[part]
    return node


def fill_form(schema: dict[str, Any], *, rng: random.Random, department_codes: list[str],
              affirmative: float = 0.7) -> dict[str, Any]:
    """Build form data that satisfies a task form's JSON Schema (required fields plus defaults)."""
    filler = _Filler(schema or {}, rng, department_codes, affirmative)
    data = filler.value(schema or {"type": "object"})
    if not isinstance(data, dict):
        return {}
    filler.repair(data)
    return data


def department_codes(session: Session) -> list[str]:
    """Codes of the departments and mediation committees a form may dispatch to."""
    query = select(Department.code).where(Department.kind.in_(("department", "committee")))
    return list(session.scalars(query.order_by(Department.id)))


def walk_case(session: Session, actor: User, case_no: str, steps: int, rng: random.Random, *,
              codes: list[str] | None = None, affirmative: float = 0.7, strict: bool = True,
              choices: Mapping[str, Any] | None = None, until: Collection[str] = (),
              limits: Mapping[str, int] | None = None, before_step: Callable[[HumanTask], None] | None = None,
              attach: Callable[[User, HumanTask, str, dict[str, Any]], int | None] | None = None,
              doer: Callable[[HumanTask], User] | None = None) -> int:
    """Complete up to `steps` open tasks of a case with generated data; return how many were completed.

    Stops early when the case has no open task (closed, or waiting on a timer or message), or when
    one of its open tasks is named in `until` (that task is left open: the case waits there).
    `limits` caps how many tasks of a name the walk completes (0: never): tasks past their cap are
    left open and the walk works on the others, so parallel branches can be left half done.
    `choices` steers the walk: per task name, fields that replace the generated ones, either one
    mapping for every time the task comes up or a list of mappings used in turn (the last one
    repeats), e.g. `{"department_opinion": [{"action": "return"}, {"action": "opinion"}]}`.
    `before_step` is called with each task before it is completed (e.g. to move the clock on).
    `doer(task)` says who completes a task (`actor` when not given; `actor` lists the tasks either way).
    `attach(doer, task, field, data)` may add a file to the case for a file field of the task's form (the
    answers so far in `data`) and return its id, which the field then holds.
    With `strict`, invalid data and incidents raise `WalkError`; otherwise each step runs in a
    savepoint, and a failing step is rolled back, logged and ends the walk.
    """
    codes = department_codes(session) if codes is None else codes
    scope = "all" if can_see_all(actor) else "group"
    used: Counter[str] = Counter()  # occurrences of each task name steered so far
    used_tasks: Counter[str] = Counter()  # tasks of each name taken so far
    done = 0
    while done < steps:
        tasks = list_tasks(session, actor, scope=scope, case_no=case_no)
        if until and any(t.name in until for t in tasks):
            break
        task = next((t for t in tasks if limits is None or used_tasks[t.name] < limits.get(t.name, steps)), None)
        if task is None:
            break
        used_tasks[task.name] += 1
        schema = task_form(session, task)["schema"]
        data = fill_form(schema, rng=rng, department_codes=codes, affirmative=affirmative)
        data.update(_steer(choices, task.name, used))
        for field in unchosen(schema, data):  # as the task page sends it: no working days with an opinion
            data.pop(field, None)
        by = doer(task) if doer else actor
        for field, several in (file_fields(schema).items() if attach else ()):
            kept = attach(by, task, field, data)
            if kept is not None:
                data[field] = [str(kept)] if several else str(kept)
        name = task.name
        if before_step is not None:
            before_step(task)
        try:
            if strict:
                case = complete_task(session, by, task.id, data)
            else:
                with session.begin_nested():
                    case = complete_task(session, by, task.id, data)
        except DomainError as exc:
            if strict:
                raise WalkError(f"{case_no}: task {name} refused {data}: {exc.message} {exc.fields}") from exc
            log.warning("%s: task %s refused generated data (%s %s); walk stopped",
                        case_no, name, exc.message, exc.fields)
            break
        if case.has_incident:
            if strict:
                raise WalkError(f"{case_no}: task {name} raised an incident")
            log.warning("%s: task %s raised an incident; walk stopped", case_no, name)
            break
        done += 1
    return done


def _steer(choices: Mapping[str, Any] | None, name: str, used: Counter[str]) -> dict[str, Any]:
    """The fields `choices` fixes for this occurrence of task `name` (see `walk_case`)."""
    if not choices or name not in choices:
        return {}
    fixed = choices[name]
    if isinstance(fixed, Sequence) and not isinstance(fixed, (str, bytes)):
        if not fixed:
            return {}
        fixed = fixed[min(used[name], len(fixed) - 1)]
    used[name] += 1
    return copy.deepcopy(dict(fixed))
