"""Hot spots (热点): which kinds of disputes rise, where, and who and where keeps coming back.

Derived from the cases the user may see (`app.cases.queries.scoped`), filed within the period: the
last N weeks (default 12) in the center's zone, weeks starting on Monday, the current week included
even though it is not over yet.

Definitions (the page states them too):
- **Rising (上升)**: a category is rising when, in the most recent weeks of the period (the last 4 of
  12; a third of the period, at least 1 and at most 4 weeks), it has at least 3 cases and its weekly
  average is at least 1.5 times its weekly average in the weeks before (or it had none before).
- **Repeat petitioner (重复来访人)**: one person filing 2 or more cases in the period; a person is
  recognised by the digits of the phone number, and also by the same name at the same place, so a
  citizen who gives another number is still matched.
- **Repeat place (重复发生地)**: a village/township (the place a case was filed for) with 2 or more
  cases of the same category in the period.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.cases.models import MediationCase
from app.cases.queries import scoped
from app.errors import InvalidInput
from app.org.models import OrgUnit, User
from app.timeutil import LOCAL_TZ

DEFAULT_WEEKS = 12
MAX_WEEKS = 104
#: the rising rule: recent weekly average >= RISING_FACTOR × the earlier one, with >= RISING_MIN cases
RISING_FACTOR = 1.5
RISING_MIN = 3
MAX_RECENT_WEEKS = 4
REPEAT_MIN = 2
#: what a case without a category is filed under
UNCATEGORISED = ""


@dataclass(frozen=True)
class Filters:
    weeks: int = DEFAULT_WEEKS
    place: str = ""
    category: str = ""


def parse_filters(args: Mapping[str, Any]) -> Filters:
    """Read `weeks`, `place` and `category` from query arguments; InvalidInput names each bad one."""
    errors: dict[str, str] = {}
    raw = str(args.get("weeks") or "").strip()
    weeks = DEFAULT_WEEKS
    if raw:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_WEEKS:
            errors["weeks"] = f"a whole number of weeks from 1 to {MAX_WEEKS}"
        else:
            weeks = int(raw)
    place = str(args.get("place") or "").strip()
    category = str(args.get("category") or "").strip()
    if len(place) > 64:
        errors["place"] = "at most 64 characters"
    if len(category) > 64:
        errors["category"] = "at most 64 characters"
    if errors:
        raise InvalidInput("the filters are not valid", fields=errors)
    return Filters(weeks=weeks, place=place, category=category)


def recent_weeks(weeks: int) -> int:
    """How many of the period's last weeks count as "recent" for the rising rule."""
    return max(1, min(MAX_RECENT_WEEKS, weeks // 3))


def is_rising(counts: list[int]) -> bool:
    """The rising rule on one category's weekly counts (oldest first)."""
    if len(counts) < 2:
        return False
    recent = recent_weeks(len(counts))
    now_part, before = counts[-recent:], counts[:-recent]
    total = sum(now_part)
    if total < RISING_MIN:
        return False
    before_mean = sum(before) / len(before)
    return before_mean == 0 or total / recent >= RISING_FACTOR * before_mean


def week_start(moment: datetime) -> date:
    """The Monday (local date) of the week a moment falls in."""
    day = moment.astimezone(LOCAL_TZ).date()
    return day - timedelta(days=day.weekday())


def mask_phone(phone: str) -> str:
    """138****1234: enough to recognise a number on a printed report, not to call it."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    #: the filtered place itself (cases filed at its own level) rather than a unit below it
    own: bool = False


@dataclass
class CategoryRow:
    category: str
    counts: list[int]
    total: int
    recent_mean: float
    before_mean: float
    rising: bool


@dataclass
class PlaceRow:
    place: Place
    by_category: dict[str, int]
    counts: list[int]
    total: int


@dataclass(frozen=True)
class CaseRef:
    case_no: str
    title: str
    category: str
    place: str
    created_at: datetime


@dataclass
class Petitioner:
    name: str
    phone: str
    cases: list[CaseRef]
    places: list[str]
    categories: list[str]


@dataclass
class RepeatPlace:
    place: str
    category: str
    cases: list[CaseRef]


@dataclass
class Hotspots:
    filters: Filters
    place: OrgUnit
    weeks: list[date]
    total: int
    categories: list[CategoryRow]
    week_totals: list[int]
    places: list[PlaceRow]
    petitioners: list[Petitioner]
    repeat_places: list[RepeatPlace]
    recent: int
    since: datetime
    until: datetime
    place_categories: list[str] = field(default_factory=list)

    @property
    def last_day(self) -> date:
        """The Sunday that ends the period (the current week's)."""
        return self.weeks[-1] + timedelta(days=6)

    def as_json(self) -> dict[str, Any]:
        from app.timeutil import local_iso

        def ref(c: CaseRef) -> dict[str, Any]:
            return {"case_no": c.case_no, "title": c.title, "category": c.category or None, "place": c.place,
                    "created_at": local_iso(c.created_at)}

        return {
            "filters": {"weeks": self.filters.weeks, "place": self.place.code,
                        "category": self.filters.category or None},
            "since": local_iso(self.since), "until": local_iso(self.until),
            "weeks": [w.isoformat() for w in self.weeks], "total": self.total, "week_totals": self.week_totals,
            "rising_rule": {"recent_weeks": self.recent, "factor": RISING_FACTOR, "min_cases": RISING_MIN},
            "categories": [{"category": r.category or None, "counts": r.counts, "total": r.total,
                            "recent_weekly": round(r.recent_mean, 2), "before_weekly": round(r.before_mean, 2),
                            "rising": r.rising} for r in self.categories],
            "places": [{"place": p.place.code, "name": p.place.name, "own_level": p.place.own, "counts": p.counts,
                        "total": p.total, "by_category": {k or "": v for k, v in p.by_category.items()}}
                       for p in self.places],
            "repeat_petitioners": [{"name": p.name, "phone": p.phone, "count": len(p.cases), "places": p.places,
                                    "categories": [c or None for c in p.categories],
                                    "cases": [ref(c) for c in p.cases]} for p in self.petitioners],
            "repeat_places": [{"place": r.place, "category": r.category or None, "count": len(r.cases),
                               "cases": [ref(c) for c in r.cases]} for r in self.repeat_places],
        }


def resolve_place(session: Session, user: User, code: str) -> OrgUnit:
    """The place to analyse: the user's own unit by default; another must lie within it (admins: any)."""
    if not code:
        return user.org_unit
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == code))
    if unit is None:
        raise InvalidInput("unknown place", fields={"place": "no such org unit"})
    if not user.is_admin and not unit.is_within(user.org_unit):
        raise InvalidInput("outside your area", fields={"place": "not within your org unit"})
    return unit


class _People:
    """Union-find over cases: same phone digits, or same name at the same place, is the same person."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def build_hotspots(session: Session, user: User, filters: Filters) -> Hotspots:
    """Counts by category × place × week, the rising categories, repeat petitioners and repeat places."""
    unit = resolve_place(session, user, filters.place)
    now = clock.now()
    last_monday = week_start(now)
    first_monday = last_monday - timedelta(weeks=filters.weeks - 1)
    weeks = [first_monday + timedelta(weeks=i) for i in range(filters.weeks)]
    since = datetime.combine(first_monday, time.min, tzinfo=LOCAL_TZ)
    until = datetime.combine(last_monday + timedelta(days=7), time.min, tzinfo=LOCAL_TZ)
    query = (select(MediationCase.id, MediationCase.case_no, MediationCase.title, MediationCase.category,
                    MediationCase.created_at, MediationCase.citizen_name, MediationCase.citizen_phone,
                    OrgUnit.id, OrgUnit.name, OrgUnit.path)
             .join(OrgUnit, OrgUnit.id == MediationCase.org_unit_id)
             .where(MediationCase.created_at >= since, MediationCase.created_at < until,
                    OrgUnit.path.startswith(unit.path)))
    if filters.category:
        query = query.where(MediationCase.category == filters.category)
    rows = list(session.execute(scoped(query, user).order_by(MediationCase.created_at, MediationCase.id)))
    index = {w: i for i, w in enumerate(weeks)}
    children = list(session.scalars(select(OrgUnit).where(OrgUnit.parent_id == unit.id).order_by(OrgUnit.path)))
    place_of_path = [(child.path, Place(child.code, child.name)) for child in children]
    own = Place(unit.code, unit.name, own=True)

    by_category: dict[str, list[int]] = defaultdict(lambda: [0] * len(weeks))
    by_place: dict[str, PlaceRow] = {}
    for place in [own] + [p for _path, p in place_of_path]:
        by_place[place.code] = PlaceRow(place, defaultdict(int), [0] * len(weeks), 0)
    week_totals = [0] * len(weeks)
    people = _People()
    by_phone: dict[str, int] = {}
    by_name: dict[tuple[str, int], int] = {}
    refs: dict[int, CaseRef] = {}
    place_cases: dict[tuple[int, str], list[CaseRef]] = defaultdict(list)
    contacts: dict[int, tuple[str, str, str]] = {}
    for (case_id, case_no, title, category, created_at, name, phone, unit_id, unit_name, path) in rows:
        slot = index.get(week_start(created_at))
        if slot is None:
            continue
        category = category or UNCATEGORISED
        by_category[category][slot] += 1
        week_totals[slot] += 1
        place = next((p for prefix, p in place_of_path if path.startswith(prefix)), own)
        row = by_place[place.code]
        row.by_category[category] += 1
        row.counts[slot] += 1
        row.total += 1
        ref = CaseRef(case_no, title, category, unit_name, created_at)
        refs[case_id] = ref
        place_cases[(unit_id, category)].append(ref)
        contacts[case_id] = (name or "", phone or "", unit_name)
        people.find(case_id)
        digits = re.sub(r"\D", "", phone or "")
        if len(digits) >= 7:
            people.union(case_id, by_phone.setdefault(digits, case_id))
        clean = re.sub(r"\s+", "", name or "")
        if clean:
            people.union(case_id, by_name.setdefault((clean, unit_id), case_id))

    recent = recent_weeks(len(weeks))
    categories = []
    for category, counts in by_category.items():
        before = counts[:-recent]
        categories.append(CategoryRow(category, counts, sum(counts), sum(counts[-recent:]) / recent,
                                      sum(before) / len(before) if before else 0.0, is_rising(counts)))
    categories.sort(key=lambda r: (not r.rising, -r.total, r.category == UNCATEGORISED, r.category))

    groups: dict[int, list[int]] = defaultdict(list)
    for case_id in refs:
        groups[people.find(case_id)].append(case_id)
    petitioners = []
    for members in groups.values():
        if len(members) < REPEAT_MIN:
            continue
        latest = max(members, key=lambda i: (refs[i].created_at, i))
        name, phone, _place = contacts[latest]
        ordered = sorted(members, key=lambda i: (refs[i].created_at, i))
        petitioners.append(Petitioner(
            name=name, phone=mask_phone(phone), cases=[refs[i] for i in ordered],
            places=sorted({contacts[i][2] for i in members}),
            categories=sorted({refs[i].category for i in members})))
    petitioners.sort(key=lambda p: (-len(p.cases), -p.cases[-1].created_at.timestamp(), p.name))

    repeat_places = [RepeatPlace(cases[0].place, category, cases)
                     for (_unit, category), cases in place_cases.items() if len(cases) >= REPEAT_MIN]
    repeat_places.sort(key=lambda r: (-len(r.cases), r.place, r.category))
    places = [r for r in by_place.values() if r.total or not r.place.own]
    place_categories = [r.category for r in sorted(categories, key=lambda r: (-r.total, r.category == UNCATEGORISED,
                                                                              r.category))]
    return Hotspots(filters=filters, place=unit, weeks=weeks, total=sum(week_totals), categories=categories,
                    week_totals=week_totals, places=places, petitioners=petitioners,
                    repeat_places=repeat_places, recent=recent, since=since, until=until,
                    place_categories=place_categories)
