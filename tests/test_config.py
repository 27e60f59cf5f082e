"""Settings from the environment: a value OneStop cannot use is named, and nothing starts."""

from __future__ import annotations

import pytest

from app.cli import main
from app.config import Config, ConfigError


def test_numbers_are_read_and_bad_ones_named():
    cfg = Config.from_env({"ONESTOP_REPORT_MAX_AGE": "60", "ONESTOP_TOKEN_MAX_AGE": "3600",
                           "ONESTOP_ENGINE_CACHE": "0"})
    assert (cfg.report_max_age, cfg.token_max_age, cfg.engine_cache) == (60.0, 3600, 0)
    assert Config.from_env({}).engine_cache == 64
    for name, raw in (("ONESTOP_REPORT_MAX_AGE", "a minute"), ("ONESTOP_REPORT_MAX_AGE", "-1"),
                      ("ONESTOP_TOKEN_MAX_AGE", "1.5"), ("ONESTOP_SCHEDULER_POLL_SECONDS", ""),
                      ("ONESTOP_ENGINE_CACHE", "many")):
        with pytest.raises(ConfigError, match=name):
            Config.from_env({name: raw})


def test_the_cli_says_which_setting_and_stops(monkeypatch, capsys):
    monkeypatch.setenv("ONESTOP_REPORT_MAX_AGE", "soon")
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--port", "5999"])
    assert stopped.value.code == 2
    out = capsys.readouterr()
    assert out.err.strip() == "onestop: ONESTOP_REPORT_MAX_AGE='soon': must be a number, 0 or more"
    assert "OneStop on" not in out.out
