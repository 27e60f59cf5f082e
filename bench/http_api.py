"""The HTTP targets: one client creating cases and completing tasks, and four clients completing tasks.

`onestop serve --workers N` runs as its own process on the benchmark's database (the world and the
bench bundle are already in it) and a free port on 127.0.0.1. The clients are threads of this
process, each with one keep-alive connection (`http.client`), logged in as the bench's mediator:

- create: `POST /api/v1/cases` with `process_id: bench_loop` (the case runs to its first task);
- complete: `POST /api/v1/tasks/{id}/complete` on a `bench_loop` case (the task's id is read from
  the database beforehand, so only the completion is timed; the answer is the case);
- throughput: `clients` threads completing tasks of their own cases for `seconds` seconds, against
  `--workers` gunicorn workers; completions per second counted over that window.

The client threads share the two cores with the server, so throughput is a lower bound of what a
separate client machine would see.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from common import FORM_DATA, PASSWORD, ROOT, Result, World, open_task_id, progress, summary
from sqlalchemy import select

from app.cases.models import MediationCase

LOOP = "bench_loop"
LIMIT = 10**6


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Client:
    """One keep-alive connection to the server, logged in as the bench's mediator."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = ""
        status, body = self.call("POST", "/api/v1/auth/login", {"username": "mediator", "password": PASSWORD})
        if status != 200:
            raise RuntimeError(f"login failed: {status} {body}")
        self.token = body["token"]

    def call(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self.conn.request(method, path, body=json.dumps(payload) if payload is not None else None, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)

    def create(self, place: str) -> tuple[float, str]:
        """Create a bench_loop case; return ms and its number."""
        payload = {"title": "拖欠工资", "description": "工地拖欠三个月工资", "channel": "walk_in",
                   "citizen": {"name": "张三", "phone": "13800001234"}, "location": {"org_unit": place},
                   "process_id": LOOP, "data": {"limit": LIMIT}}
        t0 = time.perf_counter()
        status, body = self.call("POST", "/api/v1/cases", payload)
        ms = (time.perf_counter() - t0) * 1000
        if status != 201:
            raise RuntimeError(f"create failed: {status} {body}")
        return ms, body["case_no"]

    def complete(self, task_id: int) -> float:
        t0 = time.perf_counter()
        status, body = self.call("POST", f"/api/v1/tasks/{task_id}/complete", {"data": FORM_DATA})
        ms = (time.perf_counter() - t0) * 1000
        if status != 200:
            raise RuntimeError(f"complete failed: {status} {body}")
        return ms

    def close(self) -> None:
        self.conn.close()


def _case_id(world: World, case_no: str) -> int:
    with world.db.unit_of_work(write=False) as s:
        return int(s.scalar(select(MediationCase.id).where(MediationCase.case_no == case_no)))


def _serve(world: World, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ONESTOP_DATABASE_URL": world.db.url}
    env.pop("ONESTOP_TESTING", None)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers",
                             str(workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"onestop serve exited with {proc.returncode}") from None
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("onestop serve did not start within 60 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _single(world: World, port: int, samples: int) -> tuple[list[float], list[float]]:
    """One client: `samples` creates and `samples` completions, interleaved."""
    client = Client(port)
    try:
        for _ in range(5):  # warm the worker (spec cache, statement cache)
            _, case_no = client.create(world.place)
            client.complete(open_task_id(world.db, _case_id(world, case_no)))
        creates: list[float] = []
        completes: list[float] = []
        _, case_no = client.create(world.place)
        case_id = _case_id(world, case_no)
        for _ in range(samples):
            ms, _ = client.create(world.place)
            creates.append(ms)
            completes.append(client.complete(open_task_id(world.db, case_id)))
        return creates, completes
    finally:
        client.close()


def _throughput(world: World, port: int, clients: int, seconds: float) -> tuple[int, float, int]:
    """`clients` threads completing tasks of their own case; (completions, seconds, errors)."""
    counts = [0] * clients
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    window: dict[str, float] = {}

    def work(index: int) -> None:
        client = Client(port)
        _, case_no = client.create(world.place)
        case_id = _case_id(world, case_no)
        task_id = open_task_id(world.db, case_id)
        start.wait()
        while time.perf_counter() < window["end"]:
            try:
                client.complete(task_id)
                counts[index] += 1
            except Exception:  # noqa: BLE001 - counted, the run goes on
                errors[index] += 1
            task_id = open_task_id(world.db, case_id)
        client.close()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    window["end"] = float("inf")
    start.wait()
    t0 = time.perf_counter()
    window["end"] = t0 + seconds
    for thread in threads:
        thread.join(timeout=seconds + 60)
    return sum(counts), time.perf_counter() - t0, sum(errors)


def run(world: World, *, samples: int = 200, clients: int = 4, workers: int = 3, seconds: float = 20.0) -> list[Result]:
    """The HTTP rows: single-client latency (one worker) and throughput (`workers` workers, `clients` clients)."""
    progress(f"{world.kind}: HTTP, one client ({samples} creates and completions), `serve --workers 1`")
    port = _free_port()
    proc = _serve(world, port, 1)
    try:
        creates, completes = _single(world, port, samples)
    finally:
        _stop(proc)
    progress(f"{world.kind}: HTTP, {clients} clients for {seconds:.0f} s, `serve --workers {workers}`")
    port = _free_port()
    proc = _serve(world, port, workers)
    try:
        done, elapsed, errors = _throughput(world, port, clients, seconds)
    finally:
        _stop(proc)
    c, k = summary(creates), summary(completes)
    rate = done / elapsed if elapsed else float("nan")
    pg = world.kind == "postgresql"
    return [
        Result("http_create", "HTTP: create a case to its first task, 1 client, median (p95)", c["median"], "ms",
               "≤ 6 ms" if pg else "", (c["median"] <= 6.0) if pg else None, detail=c),
        Result("http_complete", "HTTP: complete a task, 1 client, median (p95)", k["median"], "ms",
               "≤ 5 ms" if pg else "", (k["median"] <= 5.0) if pg else None, detail=k),
        Result("http_rate", f"HTTP: completions/s, {clients} clients, serve --workers {workers}", rate, "/s",
               "≥ 400/s" if pg else "", (rate >= 400) if pg else None,
               detail={"completions": done, "seconds": round(elapsed, 1), "errors": errors}),
    ]
