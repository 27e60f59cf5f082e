"""`onestop serve` as it runs in production: gunicorn, and with several workers a scheduler beside them."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


@pytest.mark.parametrize("workers,connection", [(1, "keep-alive"), (2, "close")])
def test_several_workers_answer_each_request_on_a_connection_of_its_own(tmp_path, workers, connection):
    """A kept-alive connection stays with the worker that took it, so with several workers the
    server closes each one: the next request goes to whichever worker is free."""
    env = {**os.environ, "ONESTOP_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    env.pop("ONESTOP_TESTING", None)
    subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers",
                               str(workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = _get(port, "/api/v1/openapi.json")
                break
            except OSError:
                assert server.poll() is None, "onestop serve exited"
                assert time.monotonic() < deadline, "onestop serve did not answer within 60 s"
                time.sleep(0.2)
        assert response.status == 200
        assert (response.getheader("Connection") or "keep-alive").lower() == connection
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
