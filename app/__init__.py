"""OneStop: a BPMN-driven joint mediation orchestrator."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from app.config import Config

log = logging.getLogger(__name__)


def create_app(config: Config | None = None, *, clock: Any = None, start_scheduler: bool | None = None) -> Flask:
    """Build the Flask app: wiring only (settings, database, blueprints, first-start deploy, scheduler)."""
    from app import clock as clock_module
    from app.db import Database
    from app.jsonio import OrjsonProvider

    cfg = config or Config.from_env()
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(SECRET_KEY=cfg.secret_key, MAX_CONTENT_LENGTH=cfg.max_content_length, ONESTOP=cfg)
    app.json = OrjsonProvider(app)
    if isinstance(clock, datetime):
        clock_module.set_to(clock)
    elif isinstance(clock, timedelta):
        clock_module.set_offset(clock)

    db = Database(cfg.database_url)
    from app.reports import metrics

    metrics.LIVE_MAX_AGE = cfg.report_max_age
    from app import engine

    engine.keep_workflows(cfg.engine_cache)
    app.extensions["onestop.db"] = db

    from app.api import bp as api_bp
    from app.api.openapi import bp as openapi_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(openapi_bp)
    from app import web
    from app.open311.views import bp as open311_bp

    app.register_blueprint(open311_bp)
    web.init_app(app)
    app.extensions["csrf"].exempt(open311_bp)  # machine clients authenticate with an API key, not a cookie
    from app import http_errors

    http_errors.register(app)

    if cfg.auto_deploy:
        deploy_shipped_if_empty(app)

    run_scheduler = cfg.scheduler_in_process if start_scheduler is None else start_scheduler
    if run_scheduler:
        from app.notify.channels import load_channel
        from app.scheduler.runner import start_scheduler as start

        app.extensions["onestop.scheduler"] = start(db, poll_seconds=cfg.scheduler_poll_seconds,
                                                    follow_test_clock=cfg.testing,
                                                    channel=load_channel(cfg.sms_channel))
    return app


def deploy_shipped_if_empty(app: Flask) -> None:
    """On first start, publish the shipped processes/ and forms/ (never over existing versions)."""
    from sqlalchemy import inspect

    from app.processes.service import deploy_shipped

    cfg: Config = app.config["ONESTOP"]
    db = app.extensions["onestop.db"]
    if not inspect(db.engine).has_table("process_version"):
        log.warning("the database has no tables yet: run `onestop db upgrade`")
        return
    with db.unit_of_work() as session:
        if not db.is_sqlite:
            # several workers may start at once; one of them deploys
            from sqlalchemy import text

            session.execute(text("SELECT pg_advisory_xact_lock(727001)"))
        deploy_shipped(session, (cfg.processes_dir, cfg.forms_dir), note="shipped processes and forms", source="auto")
