"""Every setting OneStop reads, declared once, filled from ONESTOP_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


class ConfigError(ValueError):
    """An environment variable OneStop cannot use; the message names it."""


def _number(name: str, raw: str, kind: type[int] | type[float]) -> Any:
    """A setting that is a number of seconds or bytes: not negative."""
    try:
        value = kind(raw)
    except ValueError:
        value = -1
    if value < 0:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}={raw!r}: must be {what}, 0 or more")
    return value


@dataclass(frozen=True)
class Config:
    """The settings of one OneStop process; built from the environment by `Config.from_env()`."""

    database_url: str = field(
        default_factory=lambda: f"sqlite:///{PROJECT_ROOT / 'instance' / 'onestop.db'}"
    )
    secret_key: str = "dev-only-change-me"
    testing: bool = False
    processes_dir: Path = PROJECT_ROOT / "processes"
    forms_dir: Path = PROJECT_ROOT / "forms"
    #: run the timer scheduler inside the web process (the embedded default)
    scheduler_in_process: bool = True
    #: seconds between safety polls of the timer table
    scheduler_poll_seconds: float = 30.0
    #: deploy the shipped processes/ and forms/ when the database has no process yet
    auto_deploy: bool = True
    #: bearer tokens expire after this many seconds
    token_max_age: int = 12 * 3600
    #: largest accepted request body, in bytes (uploads of BPMN/DMN/forms)
    max_content_length: int = 5 * 1024 * 1024
    timezone: str = "Asia/Shanghai"
    #: prefix of case numbers, e.g. QX-2026-000123
    case_prefix: str = "QX"
    #: the SMS channel: "log" (write to the log) or "package.module:Class" of a real gateway
    sms_channel: str = "log"
    #: seconds the current month's report numbers are kept once computed (0: computed on every view);
    #: unset, numbers that are slow to compute are kept in proportion to their cost and computed
    #: again in the background (docs/reports.md, "How fresh the numbers are")
    report_max_age: float | None = None
    #: workflows each web process keeps in memory after their step was stored, so that the case's next
    #: step in the same process need not restore it from the stored state (0: always restore;
    #: `onestop scheduler` keeps none)
    engine_cache: int = 64

    ENV_NAMES = {
        "database_url": "ONESTOP_DATABASE_URL",
        "secret_key": "ONESTOP_SECRET_KEY",
        "testing": "ONESTOP_TESTING",
        "processes_dir": "ONESTOP_PROCESSES_DIR",
        "forms_dir": "ONESTOP_FORMS_DIR",
        "scheduler_in_process": "ONESTOP_SCHEDULER_IN_PROCESS",
        "scheduler_poll_seconds": "ONESTOP_SCHEDULER_POLL_SECONDS",
        "auto_deploy": "ONESTOP_AUTO_DEPLOY",
        "token_max_age": "ONESTOP_TOKEN_MAX_AGE",
        "max_content_length": "ONESTOP_MAX_CONTENT_LENGTH",
        "timezone": "ONESTOP_TIMEZONE",
        "case_prefix": "ONESTOP_CASE_PREFIX",
        "sms_channel": "ONESTOP_SMS_CHANNEL",
        "report_max_age": "ONESTOP_REPORT_MAX_AGE",
        "engine_cache": "ONESTOP_ENGINE_CACHE",
    }

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Config:
        """Read the settings from the environment; keyword overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = cls.ENV_NAMES.get(f.name)
            if name is None or name not in env:
                continue
            raw = env[name]
            current = getattr(cls, f.name, None)
            if f.name in {"testing", "scheduler_in_process", "auto_deploy"}:
                values[f.name] = _bool(raw)
            elif f.name in {"token_max_age", "max_content_length", "engine_cache"}:
                values[f.name] = _number(name, raw, int)
            elif f.name in {"scheduler_poll_seconds", "report_max_age"}:
                values[f.name] = _number(name, raw, float)
            elif f.name in {"processes_dir", "forms_dir"}:
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw if current is None or isinstance(current, str) else raw
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> Config:
        """Return a copy with some settings changed."""
        return replace(self, **changes)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
