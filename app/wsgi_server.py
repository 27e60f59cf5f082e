"""`onestop serve --workers N`: N gunicorn workers plus one scheduler process beside them."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from app.config import Config


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, cfg: Config, options: dict[str, Any]) -> None:
        self.cfg_onestop = cfg
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from app import create_app
        from app.reports.ranking import warm_up

        app = create_app(self.cfg_onestop)
        warm_up(app.extensions["onestop.db"])
        # what the worker holds from now on (modules, mappers, parsed specs: ~100,000 objects) is
        # left out of the collector's full passes, each of which walked all of it (60 ms on this
        # machine, once every few hundred requests, in the middle of one of them)
        gc.freeze()
        return app


def run_gunicorn(cfg: Config, *, host: str, port: int, workers: int) -> int:
    """Serve with gunicorn. One worker runs the scheduler in-process (the embedded default); with
    several, the timers are fired by one `onestop scheduler` child process beside them.

    With several workers every answer closes its connection: a kept-alive connection stays with the
    worker that accepted it, and the clients that connected together all went to one worker (four
    API clients on three workers: one worker's core busy, the other two idle, 93 completions/s; with
    a connection per request the kernel hands each to a free worker: 135/s). One Python process
    runs one request's code at a time, so the workers are how a server uses its cores.
    """
    options = {"bind": f"{host}:{port}", "workers": max(workers, 1), "worker_class": "gthread",
               "threads": 8 if workers <= 1 else 4, "accesslog": None, "timeout": 60,
               "keepalive": 2 if workers <= 1 else 0}
    if workers <= 1:
        _Server(cfg, options).run()
        return 0
    scheduler = subprocess.Popen([sys.executable, "-m", "app.cli", "scheduler"], env=dict(os.environ))
    try:
        _Server(cfg.with_(scheduler_in_process=False), options).run()
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=10)
    return 0
