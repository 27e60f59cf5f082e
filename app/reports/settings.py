"""Report settings a leader changes in the browser: the weights of the monthly score."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app import clock
from app.errors import InvalidInput
from app.org.models import User
from app.reports.metrics import DEFAULT_WEIGHTS
from app.reports.models import ReportSetting

WEIGHTS_KEY = "weights"


def get_weights(session: Session) -> dict[str, int]:
    """The score's weights in percent by rate (response, resolution, satisfaction, on_time)."""
    row = session.get(ReportSetting, WEIGHTS_KEY)
    weights = dict(DEFAULT_WEIGHTS)
    if row is not None and isinstance(row.value, dict):
        weights.update({k: int(v) for k, v in row.value.items() if k in DEFAULT_WEIGHTS and isinstance(v, int)})
    return weights


def parse_weights(payload: Any) -> dict[str, int]:
    """Check new weights: whole numbers 0–100 for each rate, summing to 100 (field errors otherwise)."""
    if not isinstance(payload, dict):
        raise InvalidInput("the weights must be an object", fields={"weights": "expected an object"})
    errors: dict[str, str] = {}
    weights: dict[str, int] = {}
    for key in DEFAULT_WEIGHTS:
        raw = payload.get(key, 0)
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw.strip())
        elif isinstance(raw, str) and not raw.strip():
            raw = 0
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 100:
            errors[key] = "a whole number from 0 to 100"
            continue
        weights[key] = raw
    unknown = sorted(set(payload) - set(DEFAULT_WEIGHTS))
    for key in unknown:
        errors[key] = "not a weight (response, resolution, satisfaction, on_time)"
    if not errors and sum(weights.values()) != 100:
        errors["weights"] = f"the weights must add up to 100 (now {sum(weights.values())})"
    if errors:
        raise InvalidInput("the weights are not valid", fields=errors)
    return weights


def set_weights(session: Session, user: User, payload: Any) -> dict[str, int]:
    """Store new weights (the caller checked the user may); returns them."""
    weights = parse_weights(payload)
    row = session.get(ReportSetting, WEIGHTS_KEY)
    if row is None:
        row = ReportSetting(key=WEIGHTS_KEY)
        session.add(row)
    row.value = weights
    row.updated_at = clock.now()
    row.updated_by_id = user.id
    session.flush()
    return weights
