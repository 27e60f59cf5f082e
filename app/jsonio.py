"""The app's JSON, written with orjson (read with the standard library, which keeps an integer of any
size exact where orjson makes a float of one past 64 bits).

Every API answer is JSON, and the answer to a step holds the case's whole timeline: the standard
library's encoder (with Flask's sorted keys) took ~0.13 ms of a ~3 ms completion for it, orjson a
fifth of that. orjson also writes JSON that is already written as it is (`orjson.Fragment`), which
lets the database write the timeline itself (`app.api.serialize.timeline_json`).

What it writes is what Flask's own provider wrote, but for the order of keys (as the code builds
each object, not sorted) and its UTF-8 (never \\u escapes): dates and datetimes as HTTP dates,
dataclasses as objects, Decimal and UUID as strings, Markup as its HTML. A call with the standard
library's keyword arguments (`indent=2`, say) goes to the standard library, and so does a value
orjson cannot write (an integer past 64 bits, which a process script may compute).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

#: datetimes and dataclasses go to Flask's `default`, as they did; dict keys that are not strings
#: are written as strings, as the standard library does
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider on orjson (see the module's docstring)."""

    ensure_ascii = False
    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """JSON text of `obj`; with keyword arguments, the standard library's."""
        if kwargs:
            return super().dumps(obj, **kwargs)
        return self._bytes(obj, _OPTIONS).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """`jsonify`: the JSON of the arguments as an application/json answer, indented in debug mode."""
        obj = self._prepare_response_obj(args, kwargs)
        option = _OPTIONS
        if (self.compact is None and self._app.debug) or self.compact is False:
            option |= orjson.OPT_INDENT_2
        return self._app.response_class(self._bytes(obj, option) + b"\n", mimetype=self.mimetype)

    def _bytes(self, obj: Any, option: int) -> bytes:
        try:
            return orjson.dumps(obj, default=self.default, option=option)
        except orjson.JSONEncodeError:
            indent = 2 if option & orjson.OPT_INDENT_2 else None
            return super().dumps(obj, indent=indent).encode()
