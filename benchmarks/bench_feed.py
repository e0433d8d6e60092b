"""Benchmark: the per-user calendar feed (500 events) under gunicorn, against a bare Flask page under the same
gunicorn settings and against Radicale 3 serving the same events as a calendar collection; plus the 304 path.

    .venv/bin/python benchmarks/bench_feed.py [--requests 2000] [--clients 4] [--workers 2]

Everything listens on 127.0.0.1 only; every load loop is bounded (fixed number of requests, 60 s timeout each).
Prints requests/second and ratios against the bare page measured in the same run.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
N_EVENTS = 500


# ---------------------------------------------------------------- WSGI apps served by gunicorn
def hello_app():
    from flask import Flask

    app = Flask("hello")

    @app.get("/")
    def hello():
        return "Bonjour"

    return app


def feed_app():
    from esp_coord import create_app

    return create_app("production")


# ---------------------------------------------------------------- setup
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(tmp: Path) -> dict:
    keyring = json.dumps({"current": "b1", "keys": {"b1": base64.b64encode(secrets.token_bytes(32)).decode()}})
    return {**os.environ, "ESP_COORD_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
            "ESP_COORD_SECRET_KEY": secrets.token_urlsafe(48), "ESP_COORD_INDEX_KEY": secrets.token_urlsafe(48),
            "ESP_COORD_MASTER_KEYS": keyring, "ESP_COORD_RATELIMIT_FEED": "10000000 per minute",
            "ESP_COORD_LOG_LEVEL": "WARNING", "ESP_COORD_BASE_URL": "https://esp-coord.example.org",
            "ESP_COORD_HUEY_FILENAME": str(tmp / "huey.db"), "PYTHONPATH": f"{HERE}:{ROOT}"}


def seed(env: dict) -> tuple[str, list[bytes]]:
    """Create the database with one user, one team and 500 meetings; return (token, per-event ics)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("ESP_COORD_") or k == "DATABASE_URL"})
    import esp_coord.models  # noqa: F401
    from esp_coord import create_app
    from esp_coord.auth.models import User
    from esp_coord.calendar_feeds.services import bump, regenerate
    from esp_coord.core.time import PARIS
    from esp_coord.extensions import db
    from esp_coord.meetings.ics import feed_bytes
    from esp_coord.meetings.models import Meeting
    from esp_coord.teams.models import Membership, Team

    app = create_app("production")
    with app.app_context(), app.test_request_context():
        db.create_all()
        user = User(email="bench@example.org", first_name="Bench", last_name="Mark", profession_code=None)
        team = Team(name="ESP du banc d'essai", kind="esp", legal_form="none")
        db.session.add_all([user, team])
        db.session.flush()
        db.session.add(Membership(team_id=team.id, user_id=user.id, role="coordinator"))
        base = datetime.now(UTC).astimezone(PARIS).replace(hour=12, minute=30, second=0, microsecond=0)
        stamp = datetime(2026, 11, 1, 8, tzinfo=UTC)
        meetings = []
        for i in range(N_EVENTS):
            start = base + timedelta(days=i % 170 - 60, hours=i % 5)
            m = Meeting(team_id=team.id, kind=("rcp_sans", "rcp_avec", "team", "training")[i % 4],
                        status="scheduled", starts_at=start, ends_at=start + timedelta(minutes=90),
                        place_kind="practice", place="Cabinet médical de Clisson", organiser_id=user.id,
                        uid=f"rcp-bench-{i:04d}@esp-coord", sequence=i % 3, feed_changed_at=stamp)
            m.team = team
            meetings.append(m)
        db.session.add_all(meetings)
        bump(team.id)
        token = regenerate(user)
        db.session.commit()
        per_event = [feed_bytes("x", [(m, i % 4)]) for i, m in enumerate(meetings)]
        from esp_coord.calendar_feeds.services import _meetings
        from esp_coord.core.time import today_paris

        rows = _meetings([team.id], today_paris())  # loaded as a cache miss does (one query + eager loads)
        t0 = time.perf_counter()
        for _ in range(3):
            feed_bytes("bench", rows)
        print(f"building the {len(rows)}-event feed with icalendar (cache miss, rows loaded): "
              f"{(time.perf_counter() - t0) / 3 * 1000:.0f} ms")
    return token, per_event


def radicale_storage(tmp: Path, per_event: list[bytes]) -> Path:
    folder = tmp / "radicale"
    coll = folder / "collection-root" / "bench" / "cal"
    coll.mkdir(parents=True)
    (coll / ".Radicale.props").write_text(json.dumps({"tag": "VCALENDAR", "D:displayname": "bench"}))
    for i, body in enumerate(per_event):
        # one VCALENDAR per item, as a CalDAV client would PUT it (no METHOD inside a collection item)
        (coll / f"event-{i:04d}.ics").write_bytes(body.replace(b"METHOD:PUBLISH\r\n", b""))
    return folder


def wait_http(port: int, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not answer {path}")


# ---------------------------------------------------------------- load loop
def _worker(args) -> tuple[int, int, int]:
    port, path, headers, count = args
    ok = other = size = 0
    for _ in range(count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status in (200, 304):
            ok += 1
            size = len(body)
        else:
            other += 1
    return ok, other, size


def measure(pool, port: int, path: str, headers: dict, total: int, clients: int) -> dict:
    _worker((port, path, headers, 20))  # warm-up (imports, caches)
    per = total // clients
    t0 = time.perf_counter()
    results = list(pool.map(_worker, [(port, path, headers, per)] * clients))
    elapsed = time.perf_counter() - t0
    ok = sum(r[0] for r in results)
    return {"rps": ok / elapsed, "ok": ok, "errors": sum(r[1] for r in results), "bytes": results[0][2]}


def start(cmd, env, port, path, cwd):
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(port, path)
    except RuntimeError:
        proc.terminate()
        raise
    return proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-feed-"))
    env = app_env(tmp)
    token, per_event = seed(env)
    procs = []
    gunicorn = [str(BIN / "gunicorn"), "-w", str(opts.workers), "-k", "sync", "--log-level", "warning",
                "--access-logfile", "/dev/null"]
    try:
        p_hello, p_feed, p_rad = free_port(), free_port(), free_port()
        procs.append(start(gunicorn + ["-b", f"127.0.0.1:{p_hello}", "bench_feed:hello_app()"], env, p_hello,
                           "/", HERE))
        feed_path = f"/agenda/u/{token}.ics"
        procs.append(start(gunicorn + ["-b", f"127.0.0.1:{p_feed}", "bench_feed:feed_app()"], env, p_feed,
                           feed_path, HERE))
        folder = radicale_storage(tmp, per_event)
        procs.append(start([str(BIN / "radicale"), "--server-hosts", f"127.0.0.1:{p_rad}", "--auth-type", "none",
                            "--rights-type", "authenticated", "--storage-filesystem-folder", str(folder),
                            "--logging-level", "warning"], env, p_rad, "/", tmp))
        conn = http.client.HTTPConnection("127.0.0.1", p_feed, timeout=10)
        conn.request("GET", feed_path)
        resp = conn.getresponse()
        body = resp.read()
        etag = resp.getheader("ETag")
        conn.close()
        assert resp.status == 200 and body.count(b"BEGIN:VEVENT") == N_EVENTS, (resp.status, len(body))
        conn = http.client.HTTPConnection("127.0.0.1", p_rad, timeout=120)
        conn.request("GET", "/bench/cal/")
        rresp = conn.getresponse()
        rbody = rresp.read()
        conn.close()
        assert rresp.status == 200 and rbody.count(b"BEGIN:VEVENT") == N_EVENTS, (rresp.status, rbody[:200])
        with ProcessPoolExecutor(opts.clients) as pool:
            rows = [
                ("bare Flask page (gunicorn)", measure(pool, p_hello, "/", {}, opts.requests, opts.clients)),
                ("app health page /sante, 1 query (gunicorn)", measure(pool, p_feed, "/sante", {}, opts.requests,
                                                                      opts.clients)),
                ("app feed, 500 events, 200 (gunicorn)", measure(pool, p_feed, feed_path, {}, opts.requests,
                                                                 opts.clients)),
                ("app feed, If-None-Match → 304 (gunicorn)", measure(pool, p_feed, feed_path,
                                                                     {"If-None-Match": etag}, opts.requests,
                                                                     opts.clients)),
                ("Radicale 3, same 500 events (GET collection)", measure(pool, p_rad, "/bench/cal/", {},
                                                                        max(opts.requests // 10, 40),
                                                                        opts.clients)),
            ]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    bare = rows[0][1]["rps"]
    print(f"{os.cpu_count()} CPU, gunicorn sync workers={opts.workers}, {opts.clients} client processes, "
          f"{opts.requests} requests per target (Radicale: {max(opts.requests // 10, 40)})")
    print("| target | req/s | vs bare page | response bytes | errors |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['rps']:.0f} | {r['rps'] / bare:.0%} | {r['bytes']} | {r['errors']} |")


if __name__ == "__main__":
    main()
