"""The intake page on a phone over slow 3G, and the web worker's memory, against `onestop serve` as shipped.

    .venv/bin/python bench/phone.py [--requests 600] [--port 5077]

DESIGN.md §5: the intake form on a phone over slow 3G is usable in ≤ 2 s and a case is filed in under a
minute; a web worker stays within 250 MB RSS. This starts the real product the way `make run` does (a
fresh SQLite database, `db upgrade`, `seed-demo`, `serve` = gunicorn with the scheduler in-process), then:

- **phone**: Debian's Chromium at 360 × 740 with the network throttled through the DevTools protocol to
  WebPageTest's "3G Slow" profile (400 kbit/s each way, 400 ms round trip). Logged in as the village
  receiver, it opens /intake cold (empty cache) and warm, and records when the title field is visible and
  enabled ("usable"), DOMContentLoaded, load and the bytes transferred; then it fills the form as a fast
  typist would (each character typed with a 40 ms delay) and submits, and records the whole time from
  opening the page to the case number being shown.
- **memory**: VmRSS and VmHWM (peak) of every process of the server after the phone run and after
  `--requests` more page requests spread over the inbox, case list, case pages, intake and tracking.

Prints a table and writes bench/out/phone-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
ONESTOP = ROOT / ".venv" / "bin" / "onestop"
CHROMIUM = os.environ.get("ONESTOP_CHROMIUM", "/usr/bin/chromium")
#: WebPageTest's "3G Slow": 400 kbit/s down and up, 400 ms RTT (DevTools takes bytes/s and ms)
SLOW_3G = {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8, "uploadThroughput": 400_000 / 8}
USABLE_TARGET_S = 2.0
FILED_TARGET_S = 60.0
RSS_TARGET_MB = 250.0
PASSWORD = "onestop-demo"


def progress(message: str) -> None:
    print(f"[phone] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """`make run` without the install: migrate, seed, serve (own process group, so it stops cleanly)."""
    env = {**os.environ, "ONESTOP_DATABASE_URL": f"sqlite:///{workdir / 'onestop.db'}",
           "ONESTOP_SECRET_KEY": "bench-phone"}
    env.pop("ONESTOP_TESTING", None)
    for command in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run([str(ONESTOP), *command], env=env, cwd=ROOT, check=True, capture_output=True)
    server = subprocess.Popen([str(ONESTOP), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read()
            return server
        except OSError:
            time.sleep(0.3)
    stop_server(server)
    raise SystemExit("the server did not answer within 60 s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def process_tree(root: int) -> list[int]:
    """The root and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def memory(root: int) -> list[dict[str, Any]]:
    """RSS and peak RSS (MB) of each process of the server, with a short name."""
    rows = []
    for pid in process_tree(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        values = {k: int(v) / 1024 for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M)}
        rows.append({"pid": pid, "command": cmdline[:80], "rss_mb": round(values.get("VmRSS", 0), 1),
                     "peak_mb": round(values.get("VmHWM", 0), 1)})
    return rows


def phone_run(base: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
    result: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2,
                                      is_mobile=True, has_touch=True, locale="zh-CN", base_url=base)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        page.goto("/login")
        page.fill("input[name=username]", "receiver")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("load")
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
        result["cold"] = open_intake(page)
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
        open_intake(page)  # fill the cache
        result["warm"] = open_intake(page)
        result["filed_s"] = file_case(page)
        browser.close()
    return result


def open_intake(page: Any) -> dict[str, float]:
    """Open /intake and time it from the click of the link (navigation start) to the form being usable."""
    started = time.perf_counter()
    page.goto("/intake", wait_until="commit")
    page.wait_for_selector("input[name=title]:enabled", state="visible")
    usable = time.perf_counter() - started
    page.wait_for_load_state("load")
    loaded = time.perf_counter() - started
    timing = page.evaluate("() => { const t = performance.getEntriesByType('navigation')[0];"
                           " return {dcl: t.domContentLoadedEventEnd, transfer: t.transferSize}; }")
    resources = page.evaluate("() => performance.getEntriesByType('resource')"
                              ".reduce((n, r) => n + (r.transferSize || 0), 0)")
    return {"usable_s": round(usable, 2), "dom_content_loaded_s": round(timing["dcl"] / 1000, 2),
            "load_s": round(loaded, 2), "kb_transferred": round((timing["transfer"] + resources) / 1024, 1)}


def file_case(page: Any) -> float:
    """From opening the intake page to the case number on screen, typing like a quick receiver."""
    started = time.perf_counter()
    page.goto("/intake", wait_until="commit")
    page.wait_for_selector("input[name=title]:enabled", state="visible")
    fields = {"title": "邻里漏水纠纷", "description": "楼上漏水，协商不成", "citizen_name": "王芳",
              "citizen_phone": "13900002222", "address": "柳树村2组"}
    for name, text in fields.items():
        selector = f"[name={name}]"
        if page.locator(selector).count():
            page.locator(selector).first.type(text, delay=40)
    for select in page.locator("form select").all():
        if select.is_visible() and not select.input_value():
            options = [o for o in select.locator("option").all() if o.get_attribute("value")]
            if options:
                select.select_option(options[0].get_attribute("value"))
    page.locator("form button[type=submit]").last.click()
    page.wait_for_selector("text=/QX-\\d{4}-\\d{6}/")
    return round(time.perf_counter() - started, 2)


def load_pages(base: str, count: int) -> dict[str, float]:
    """`count` GETs over the workspace pages as the county mediator (a plain HTTP client with a session)."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    body = f"username=mediator&password={PASSWORD}" + (f"&csrf_token={token.group(1)}" if token else "")
    opener.open(f"{base}/login", data=body.encode()).read()
    cases = re.findall(r'href="/cases/(QX-\d{4}-\d{6})"', opener.open(f"{base}/cases").read().decode())
    urls = ["/", "/inbox", "/cases", "/intake", "/track", "/notifications"] + [f"/cases/{c}" for c in cases[:20]]
    started = time.perf_counter()
    for i in range(count):
        opener.open(base + urls[i % len(urls)]).read()
    return {"requests": count, "seconds": round(time.perf_counter() - started, 1), "distinct_urls": len(urls)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="onestop-phone-") as tmp:
        progress("migrating, seeding the demo, starting `onestop serve`")
        server = start_server(Path(tmp), port)
        try:
            progress("phone over slow 3G")
            phone = phone_run(base)
            after_phone = memory(server.pid)
            progress(f"{args.requests} page requests")
            load = load_pages(base, args.requests)
            after_load = memory(server.pid)
        finally:
            stop_server(server)
    peak = max(row["peak_mb"] for row in after_load)
    rows = [
        ("intake usable, cold cache, slow 3G", f"{phone['cold']['usable_s']:.2f} s", f"≤ {USABLE_TARGET_S:.0f} s",
         phone["cold"]["usable_s"] <= USABLE_TARGET_S),
        ("intake usable, warm cache, slow 3G", f"{phone['warm']['usable_s']:.2f} s", f"≤ {USABLE_TARGET_S:.0f} s",
         phone["warm"]["usable_s"] <= USABLE_TARGET_S),
        ("intake DOMContentLoaded / load, cold (scripts deferred)",
         f"{phone['cold']['dom_content_loaded_s']:.2f} / {phone['cold']['load_s']:.2f} s", "", True),
        ("intake page weight, cold / warm",
         f"{phone['cold']['kb_transferred']:.0f} / {phone['warm']['kb_transferred']:.0f} KB", "", True),
        ("open intake → case number shown (typed)", f"{phone['filed_s']:.1f} s", f"< {FILED_TARGET_S:.0f} s",
         phone["filed_s"] < FILED_TARGET_S),
        (f"server peak RSS after {load['requests']} requests (largest process)", f"{peak:.0f} MB",
         f"≤ {RSS_TARGET_MB:.0f} MB", peak <= RSS_TARGET_MB),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'what'.ljust(width)}  {'measured':>12}  {'target':>9}  result")
    for what, measured, target, ok in rows:
        print(f"{what.ljust(width)}  {measured:>12}  {target:>9}  {'PASS' if ok else 'FAIL'}")
    for row in after_load:
        print(f"  pid {row['pid']}: {row['rss_mb']} MB now, {row['peak_mb']} MB peak — {row['command']}")
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {"at": stamp, "phone": phone, "memory_after_phone": after_phone, "memory_after_load": after_load,
              "load": load, "rows": [{"what": r[0], "measured": r[1], "target": r[2], "pass": r[3]} for r in rows]}
    (OUT / f"phone-{stamp}.json").write_text(json.dumps(record, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
