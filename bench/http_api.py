"""The HTTP targets: one client creating cases and completing tasks, and four clients completing tasks.

`onestop serve --workers N` runs as its own process on the benchmark's database (the world and the
bench bundle are already in it) and a free port on 127.0.0.1. The clients are threads of this
process, each with one keep-alive connection (`http.client`), logged in as the bench's mediator,
and each works as an API client would: a completion answers with the case and its `open_tasks`, and
the next completion of that case is the task found there (nothing is read from the database).

- create: `POST /api/v1/cases` with `process_id: bench_loop` (the case runs to its first task);
- complete: `POST /api/v1/tasks/{id}/complete` on `bench_loop` cases; completions go to a pool of
  cases in turn (20 for the one client, 50 per client for the throughput), so a case has had tens of
  steps at most, as a mediation case has: the answer holds the case's whole timeline, and one case
  completed thousands of times would measure the length of its timeline;
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
from pathlib import Path
from typing import Any

from common import FORM_DATA, PASSWORD, ROOT, Result, World, progress, summary

LOOP = "bench_loop"
LIMIT = 10**6
#: cases a client completes tasks of in turn (one client; each of the throughput clients)
POOL_SINGLE = 20
POOL_PER_CLIENT = 50


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

    def first_task(self, case_no: str) -> int:
        """The id of a new case's one open task, as a client finds it (`GET /tasks?case_no=`)."""
        status, body = self.call("GET", f"/api/v1/tasks?scope=group&case_no={case_no}")
        if status != 200 or len(body["items"]) != 1:
            raise RuntimeError(f"no single open task for {case_no}: {status} {body}")
        return int(body["items"][0]["id"])

    def complete(self, task_id: int) -> tuple[float, int]:
        """Complete a task; return ms and the id of the case's next open task (from the answer)."""
        t0 = time.perf_counter()
        status, body = self.call("POST", f"/api/v1/tasks/{task_id}/complete", {"data": FORM_DATA})
        ms = (time.perf_counter() - t0) * 1000
        if status != 200:
            raise RuntimeError(f"complete failed: {status} {body}")
        return ms, int(body["open_tasks"][0]["id"])

    def pool(self, place: str, size: int) -> list[int]:
        """Create `size` cases; return the ids of their first tasks."""
        return [self.first_task(self.create(place)[1]) for _ in range(size)]

    def close(self) -> None:
        self.conn.close()


def _serve(world: World, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ONESTOP_DATABASE_URL": world.db.url}
    env.pop("ONESTOP_TESTING", None)
    log_path = os.environ.get("ONESTOP_BENCH_SERVER_LOG")  # the server's log, to see why a request failed
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - the server's lifetime
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers",
                             str(workers)], cwd=ROOT, env=env, stdout=log, stderr=log)
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
        tasks = client.pool(world.place, POOL_SINGLE)
        for i in range(5):  # warm the worker (spec cache, statement cache)
            client.create(world.place)
            tasks[i] = client.complete(tasks[i])[1]
        creates: list[float] = []
        completes: list[float] = []
        for i in range(samples):
            ms, _ = client.create(world.place)
            creates.append(ms)
            ms, tasks[i % POOL_SINGLE] = client.complete(tasks[i % POOL_SINGLE])
            completes.append(ms)
        return creates, completes
    finally:
        client.close()


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds the processes have used (those that have exited count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def _processes() -> dict[str, set[int]]:
    """Pids of this machine's gunicorn and `onestop scheduler` processes (server) and PostgreSQL's."""
    found: dict[str, set[int]] = {"server": set(), "database": set()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "app.cli serve" in cmd or "app.cli scheduler" in cmd:
            found["server"].add(int(entry.name))
        elif cmd.startswith("postgres"):
            found["database"].add(int(entry.name))
    return found


def _throughput(world: World, port: int, clients: int, seconds: float) -> tuple[int, float, int, dict[str, float]]:
    """`clients` threads completing tasks of their own cases in turn; (completions, seconds, errors,
    CPU seconds used in the window by the server processes, the database and the clients)."""
    counts = [0] * clients
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    window: dict[str, float] = {}

    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            client = Client(port)
            tasks = client.pool(world.place, POOL_PER_CLIENT)
        except BaseException as exc:
            failures.append(exc)
            start.abort()  # the others, and the window, must not wait for this client
            raise
        start.wait()
        turn = 0
        while time.perf_counter() < window["end"]:
            slot = turn % POOL_PER_CLIENT
            try:
                tasks[slot] = client.complete(tasks[slot])[1]
                counts[index] += 1
            except Exception:  # noqa: BLE001 - counted, the run goes on
                errors[index] += 1
                client.close()
                client = Client(port)
            turn += 1
        client.close()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    window["end"] = float("inf")
    try:
        start.wait()
    except threading.BrokenBarrierError:
        raise RuntimeError(f"a client could not set up its cases: {failures[0]!r}") from None
    pids = _processes()
    cpu0 = {name: _cpu_seconds(found) for name, found in pids.items()} | {"clients": time.process_time()}
    t0 = time.perf_counter()
    window["end"] = t0 + seconds
    for thread in threads:
        thread.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - t0
    cpu = {name: _cpu_seconds(found) - cpu0[name] for name, found in pids.items()}
    cpu["clients"] = time.process_time() - cpu0["clients"]
    return sum(counts), elapsed, sum(errors), cpu


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
        done, elapsed, errors, cpu = _throughput(world, port, clients, seconds)
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
               detail={"completions": done, "seconds": round(elapsed, 1), "errors": errors,
                       "cpu_ms_per_completion": {k: round(v * 1000 / done, 2) if done else None
                                                 for k, v in cpu.items()},
                       "cpu_busy": round(sum(cpu.values()) / elapsed / (os.cpu_count() or 1), 2)}),
    ]
