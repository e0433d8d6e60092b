"""Benchmark: the per-user calendar feed (500 events) under gunicorn, against a bare Flask page under the same
gunicorn settings and against Radicale 3 serving the same events as a calendar collection; plus the 304 path.

    .venv/bin/python benchmarks/bench_feed.py [--requests 2000] [--clients 4] [--workers 2]

Servers, load loop and environment come from common.py (same gunicorn settings as the other benchmarks).
Everything listens on 127.0.0.1 only; every load loop is bounded (fixed number of requests, 120 s timeout each).
Prints requests/second and ratios against the bare page measured in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

N_EVENTS = 500


def seed(env: dict) -> tuple[str, list[bytes]]:
    """Create the database with one user, one team and 500 meetings; return (token, per-event ics)."""
    common.use_env(env)
    import esp_coord.models  # noqa: F401
    from esp_coord import create_app
    from esp_coord.auth.models import User
    from esp_coord.calendar_feeds.services import bump, regenerate
    from esp_coord.core.extensions import db
    from esp_coord.core.time import PARIS
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


def _measure(pool, port: int, path: str, headers: dict, total: int, clients: int) -> dict:
    return common.measure(pool, port, path, headers, total, clients, warmup=20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-feed-"))
    env = common.app_env(tmp, f"sqlite:///{tmp / 'bench.db'}")
    token, per_event = seed(env)
    procs = []
    try:
        p_hello, p_feed, p_rad = common.free_port(), common.free_port(), common.free_port()
        procs.append(common.start(common.gunicorn_cmd(opts.workers, p_hello, "common:hello_app()"), env, p_hello,
                                  "/"))
        feed_path = f"/agenda/u/{token}.ics"
        procs.append(common.start(common.gunicorn_cmd(opts.workers, p_feed, "common:esp_app()"), env, p_feed,
                                  feed_path))
        folder = radicale_storage(tmp, per_event)
        procs.append(common.start([str(common.BIN / "radicale"), "--server-hosts", f"127.0.0.1:{p_rad}",
                                   "--auth-type", "none", "--rights-type", "authenticated",
                                   "--storage-filesystem-folder", str(folder), "--logging-level", "warning"],
                                  env, p_rad, "/", cwd=tmp))
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
                ("bare Flask page (gunicorn)", _measure(pool, p_hello, "/", {}, opts.requests, opts.clients)),
                ("app health page /sante, 1 query (gunicorn)", _measure(pool, p_feed, "/sante", {}, opts.requests,
                                                                      opts.clients)),
                ("app feed, 500 events, 200 (gunicorn)", _measure(pool, p_feed, feed_path, {}, opts.requests,
                                                                 opts.clients)),
                ("app feed, If-None-Match → 304 (gunicorn)", _measure(pool, p_feed, feed_path,
                                                                     {"If-None-Match": etag}, opts.requests,
                                                                     opts.clients)),
                ("Radicale 3, same 500 events (GET collection)", _measure(pool, p_rad, "/bench/cal/", {},
                                                                        max(opts.requests // 10, 40),
                                                                        opts.clients)),
            ]
    finally:
        common.stop(procs)
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
