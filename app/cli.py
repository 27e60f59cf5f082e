"""The `onestop` command: serve, scheduler, db upgrade, deploy, seed-demo, users create, apikeys."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import PROJECT_ROOT, Config, ConfigError

if TYPE_CHECKING:
    from app.errors import DomainError


def _config() -> Config:
    try:
        return Config.from_env()
    except ConfigError as exc:
        print(f"onestop: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Bring the database schema to the newest migration."""
    from app.migrate import upgrade

    cfg = _config()
    upgrade(cfg.database_url)
    print(f"database is up to date: {cfg.database_url.split('@')[-1]}")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    """Publish BPMN, DMN and form files (files or folders) as new versions."""
    from app.db import Database
    from app.errors import DomainError
    from app.processes.service import BundleInvalid, deploy_bundle, read_bundle_dir, record_publish

    files: dict[str, bytes] = {}
    for raw in args.paths:
        path = Path(raw)
        if not path.exists():
            print(f"{raw}: no such file or folder", file=sys.stderr)
            return 2
        try:
            for name, content in read_bundle_dir(path).items():
                if name in files:
                    print(f"{raw}: a second file named {name}", file=sys.stderr)
                    return 2
                files[name] = content
        except DomainError as exc:
            for name, message in exc.fields.items():
                print(f"{name}: {message}", file=sys.stderr)
            return 2
    db = Database(_config().database_url)
    try:
        with db.unit_of_work() as session:
            result = deploy_bundle(session, files, note=args.note or "", source="cli")
            record_publish(session, None, result, note=args.note or "")
            for pv in result.processes:
                print(f"process {pv.process_id} version {pv.version}")
            for dv in result.decisions:
                print(f"decision {dv.decision_id} version {dv.version}")
            for fv in result.forms:
                print(f"form {fv.filename} version {fv.version}")
    except BundleInvalid as exc:
        for problem in exc.problems:
            where = f"{problem.file}:{problem.line}" if problem.line else problem.file
            print(f"{where}: {problem.message}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); nothing was published", file=sys.stderr)
        return 1
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        for name, message in exc.fields.items():
            print(f"{name}: {message}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    """Create the demo county, departments, users and cases (once)."""
    from app.errors import DomainError
    from app.seed import seed_demo

    try:
        seeded = seed_demo(_config())
    except DomainError as exc:
        print(f"seed-demo failed: {exc.message}", file=sys.stderr)
        for name, message in exc.fields.items():
            print(f"  {name}: {message}", file=sys.stderr)
        return 1
    print("demo data created" if seeded else "demo data already present")
    return 0


def _print_error(exc: DomainError) -> None:
    """A refused command's message, then each field's, indented (stderr)."""
    print(exc.message, file=sys.stderr)
    for name, message in exc.fields.items():
        print(f"  {name}: {message}", file=sys.stderr)


def cmd_users_create(args: argparse.Namespace) -> int:
    """Create a user."""
    from app.db import Database
    from app.errors import DomainError
    from app.org.service import create_user, get_department, get_org_unit

    db = Database(_config().database_url)
    password = args.password or os.environ.get("ONESTOP_NEW_USER_PASSWORD")
    if not password:
        import getpass

        password = getpass.getpass("password: ")
    try:
        with db.unit_of_work() as session:
            unit = get_org_unit(session, args.org_unit)
            dept = get_department(session, args.department) if args.department else None
            user = create_user(session, username=args.username, password=password,
                               roles=[r.strip() for r in args.roles.split(",") if r.strip()], org_unit=unit,
                               department=dept, display_name=args.display_name or "")
            print(f"user {user.username} created with roles {', '.join(user.roles)}")
    except DomainError as exc:
        _print_error(exc)
        return 1
    finally:
        db.dispose()
    return 0


def cmd_apikeys(args: argparse.Namespace) -> int:
    """Create, list or revoke Open311 API keys; a new key is printed once and never stored."""
    from sqlalchemy import select

    from app.db import Database
    from app.errors import DomainError
    from app.open311 import service
    from app.org.models import User

    db = Database(_config().database_url)
    try:
        with db.unit_of_work() as session:
            if args.apikeys_command == "create":
                user = session.scalar(select(User).where(User.username == args.username))
                if user is None:
                    print(f"no user {args.username}: create one first (onestop users create)", file=sys.stderr)
                    return 1
                row, key = service.create_key(session, user, args.name)
                print(f"API key {row.prefix}… for {row.name} acting as {user.username}:\n{key}")
            elif args.apikeys_command == "list":
                for row in service.list_keys(session):
                    state = "revoked" if row.revoked_at else "active"
                    print(f"{row.prefix}\t{state}\t{row.user.username}\t{row.name}")
            else:
                service.revoke_key(session, args.prefix)
                print(f"API key {args.prefix} revoked")
    except DomainError as exc:
        _print_error(exc)
        return 1
    finally:
        db.dispose()
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    """Run the timer scheduler as its own process until stopped."""
    from app.db import Database
    from app.scheduler.runner import TimerScheduler

    cfg = _config()
    db = Database(cfg.database_url)
    from app import engine
    from app.notify.channels import load_channel

    # the next step of a case whose timer fired here is a person's, in a web worker: keeping its
    # workflow here would only hold memory
    engine.keep_workflows(0)

    runner = TimerScheduler(db, poll_seconds=cfg.scheduler_poll_seconds, listen=True,
                            follow_test_clock=cfg.testing, channel=load_channel(cfg.sms_channel))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runner.start()
    gc.freeze()  # what it holds from now on is left out of the collector's full passes (see wsgi_server)
    print("scheduler running; Ctrl+C to stop", flush=True)
    stop.wait()
    runner.shutdown()
    db.dispose()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web app with gunicorn; with --workers N > 1, one scheduler process beside them."""
    from app.wsgi_server import run_gunicorn

    cfg = _config()
    print(f"OneStop on http://{args.host}:{args.port}/", flush=True)
    return run_gunicorn(cfg, host=args.host, port=args.port, workers=args.workers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onestop", description="OneStop joint mediation orchestrator")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("scheduler", help="run the timer scheduler").set_defaults(func=cmd_scheduler)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate to the newest schema").set_defaults(func=cmd_db_upgrade)

    deploy = sub.add_parser("deploy", help="publish BPMN/DMN/form files as new versions")
    deploy.add_argument("paths", nargs="+")
    deploy.add_argument("--note", default="")
    deploy.set_defaults(func=cmd_deploy)

    sub.add_parser("seed-demo", help="create demo data").set_defaults(func=cmd_seed_demo)

    users = sub.add_parser("users", help="manage users")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser("create", help="create a user")
    create.add_argument("username")
    create.add_argument("--password")
    create.add_argument("--roles", required=True, help="comma-separated role codes")
    create.add_argument("--org-unit", required=True)
    create.add_argument("--department")
    create.add_argument("--display-name")
    create.set_defaults(func=cmd_users_create)

    keys = sub.add_parser("apikeys", help="API keys of Open311 clients (village apps, hotlines)")
    keys_sub = keys.add_subparsers(dest="apikeys_command", required=True)
    new_key = keys_sub.add_parser("create", help="create a key acting as an existing user")
    new_key.add_argument("--username", required=True, help="the user the key acts as (its org unit and roles)")
    new_key.add_argument("--name", required=True, help="who holds the key, e.g. 柳树村App")
    keys_sub.add_parser("list", help="list keys")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its prefix")
    revoke.add_argument("prefix")
    keys.set_defaults(func=cmd_apikeys)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SpiffWorkflow logs every task state change at INFO; alembic every plugin; APScheduler every run of
    # its jobs (five lines every 30 s: the scheduler logs what it fired itself)
    for noisy in ("spiff", "SpiffWorkflow", "alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.chdir(PROJECT_ROOT) if (PROJECT_ROOT / "pyproject.toml").exists() else None
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
