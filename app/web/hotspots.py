"""The hot spots page (热点): category × place × week with rising categories marked, repeat petitioners
and repeat places; a Chart.js chart per view with the same numbers in a table under it (readable
without JavaScript, by screen readers and on paper). Numbers come from `app.reports.hotspots`.
"""

from __future__ import annotations

from typing import Any

from flask import abort, g, render_template, request
from flask_babel import gettext as _

from app.cases.queries import places_for
from app.errors import InvalidInput
from app.org.models import Role
from app.reports import hotspots
from app.web import bp, login_required, page_session
from app.web.cases import category_labels

#: who may read hot spots (admins always may)
HOTSPOT_ROLES = (Role.leader, Role.admin)
#: how many series a chart draws before the rest is summed as "其他"
CHART_SERIES = 8


def _chart_data(result: hotspots.Hotspots, labels: dict[str, str]) -> dict[str, Any]:
    """What hotspots.js draws: the same numbers as the tables, with readable labels."""
    def name(code: str) -> str:
        return labels.get(code, code) if code else _("未分类")

    weeks = [w.strftime("%m-%d") for w in result.weeks]
    shown = result.categories[:CHART_SERIES]
    rest = result.categories[CHART_SERIES:]
    trend = [{"label": name(r.category), "data": r.counts, "rising": r.rising} for r in shown]
    if rest:
        trend.append({"label": _("其他"), "data": [sum(r.counts[i] for r in rest) for i in range(len(weeks))],
                      "rising": False})
    place_cats = result.place_categories[:CHART_SERIES]
    places = {"labels": [p.place.name + (_("（本级）") if p.place.own else "") for p in result.places],
              "datasets": [{"label": name(c), "data": [p.by_category.get(c, 0) for p in result.places]}
                           for c in place_cats]}
    if len(result.place_categories) > CHART_SERIES:
        others = result.place_categories[CHART_SERIES:]
        places["datasets"].append({"label": _("其他"), "data": [sum(p.by_category.get(c, 0) for c in others)
                                                                for p in result.places]})
    people = result.petitioners[:10]
    spots = result.repeat_places[:10]
    return {
        "trend": {"labels": weeks, "datasets": trend},
        "places": places,
        "petitioners": {"labels": [f"{p.name} {p.phone}" for p in people], "data": [len(p.cases) for p in people]},
        "repeatPlaces": {"labels": [f"{r.place} · {name(r.category)}" for r in spots],
                         "data": [len(r.cases) for r in spots]},
        "text": {"cases": _("件数"), "rising": _("上升")},
    }


@bp.get("/reports/hotspots", endpoint="hotspots")
@login_required
def hotspots_page() -> Any:
    """Hot spots for the period, place and category chosen (the last 12 weeks of the user's area by default)."""
    with page_session() as s:
        if not g.user.has_role(*HOTSPOT_ROLES):
            abort(403)
        labels = category_labels(s)
        places = places_for(s, g.user)
        context = {"labels": labels, "places": places, "args": request.args, "rule": {
            "recent": hotspots.recent_weeks(hotspots.DEFAULT_WEEKS), "factor": hotspots.RISING_FACTOR,
            "min": hotspots.RISING_MIN, "repeat": hotspots.REPEAT_MIN}}
        try:
            filters = hotspots.parse_filters(request.args)
            result = hotspots.build_hotspots(s, g.user, filters)
        except InvalidInput as exc:
            messages = {"weeks": _("请输入 1 到 %(n)s 之间的整数周数", n=hotspots.MAX_WEEKS),
                        "place": _("请选择您辖区内的地点"), "category": _("类别无效")}
            errors = {k: messages.get(k, v) for k, v in exc.fields.items()}
            return render_template("web/hotspots.html", result=None, errors=errors,
                                   filters=hotspots.Filters(), **context), 422
        context["rule"]["recent"] = result.recent
        return render_template("web/hotspots.html", result=result, errors={}, filters=filters,
                               chart=_chart_data(result, labels), **context)
