"""Shared pieces of the HTTP benchmarks: bare Flask "hello" app, gunicorn start/stop, bounded load loop
(client processes, new TCP connection per request, 127.0.0.1 only), throw-away PostgreSQL, app environment,
and a signed session cookie for a user (server-side session row + Flask session cookie, as after a login).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------- WSGI apps served by gunicorn
def hello_app():
    from flask import Flask

    app = Flask("hello")

    @app.get("/")
    def hello():
        return "Bonjour"

    return app


def esp_app():
    from esp_coord import create_app

    return create_app("production")


# ---------------------------------------------------------------- environment
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(tmp: Path, database_url: str) -> dict:
    # Fixed, published keys: benchmark databases are throw-away and must stay readable when reused with
    # --database-url (random keys would make every patient field "donnée illisible"). Never for real data.
    master = hashlib.sha256(b"esp-coord benchmark master key").digest()
    keyring = json.dumps({"current": "b1", "keys": {"b1": base64.b64encode(master).decode()}})
    return {**os.environ, "ESP_COORD_ENV": "production", "DATABASE_URL": database_url,
            "ESP_COORD_SECRET_KEY": hashlib.sha256(b"esp-coord benchmark secret key").hexdigest(),
            "ESP_COORD_INDEX_KEY": hashlib.sha256(b"esp-coord benchmark index key").hexdigest(),
            "ESP_COORD_MASTER_KEYS": keyring, "ESP_COORD_RATELIMIT_FEED": "10000000 per minute",
            "ESP_COORD_RATELIMIT_DEFAULT": "10000000 per minute",
            "ESP_COORD_LOG_LEVEL": "WARNING", "ESP_COORD_BASE_URL": "https://esp-coord.example.org",
            "ESP_COORD_HUEY_FILENAME": str(tmp / "huey.db"), "PYTHONPATH": f"{HERE}:{ROOT}"}


def use_env(env: dict) -> None:
    """Make this process see the same settings as the gunicorn workers."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("ESP_COORD_") or k == "DATABASE_URL"})


def start_postgres():
    """A throw-away PostgreSQL cluster (tests/pg.py); returns (cluster, database url)."""
    from tests.pg import start_cluster

    cluster = start_cluster()
    return cluster, cluster.new_database("bench")


def stop_postgres(cluster) -> None:
    from tests.pg import stop_cluster

    stop_cluster(cluster)


def session_cookie(app, user) -> str:
    """`Cookie:` header value for a logged-in session of `user` (what the login + TOTP journey produces)."""
    from esp_coord.auth.models import AuthSession
    from esp_coord.core.extensions import db
    from esp_coord.core.keys import token_hash
    from esp_coord.core.time import utc_now

    token = secrets.token_urlsafe(32)
    now = utc_now()
    db.session.add(AuthSession(user_id=user.id, token_hash=token_hash(token), created_at=now, last_seen_at=now,
                               expires_at=now + app.config["SESSION_ABSOLUTE_LIFETIME"], mfa_done=True))
    db.session.commit()
    value = app.session_interface.get_signing_serializer(app).dumps(
        {"sid": token, "_user_id": str(user.id), "_fresh": True})
    return f"{app.config['SESSION_COOKIE_NAME']}={value}"


# ---------------------------------------------------------------- servers
def wait_http(port: int, path: str, timeout: float = 60.0, headers: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path, headers=headers or {})
            status = conn.getresponse().status
            conn.close()
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on {port} did not answer {path}")


def gunicorn_cmd(workers: int, port: int, target: str) -> list[str]:
    """Same settings for every app measured: sync workers, no access log, 127.0.0.1 only."""
    return [str(BIN / "gunicorn"), "-w", str(workers), "-k", "sync", "--log-level", "warning",
            "--access-logfile", "/dev/null", "--timeout", "120", "-b", f"127.0.0.1:{port}", target]


def start(cmd, env, port, path, cwd=HERE, headers=None) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(port, path, headers=headers)
    except RuntimeError:
        proc.terminate()
        raise
    return proc


def stop(procs) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


# ---------------------------------------------------------------- bounded load loop
def _worker(args) -> tuple[list[float], int, int]:
    port, path, headers, count, budget = args
    latencies, errors, size = [], 0, 0
    deadline = time.monotonic() + budget
    for _ in range(count):
        if time.monotonic() > deadline:  # bounded in time too: a very slow page stops early
            break
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        latencies.append(time.perf_counter() - t0)
        if resp.status in (200, 304):
            size = len(body)
        else:
            errors += 1
    return latencies, errors, size


def measure(pool: ProcessPoolExecutor, port: int, path: str, headers: dict, total: int, clients: int,
            warmup: int = 5, budget: float = 30.0) -> dict:
    """`total` requests from `clients` processes (each stops after `budget` seconds); req/s, median, p95."""
    _worker((port, path, headers, warmup, budget))
    per = max(1, total // clients)
    t0 = time.perf_counter()
    results = list(pool.map(_worker, [(port, path, headers, per, budget)] * clients))
    elapsed = time.perf_counter() - t0
    lat = sorted(x for r in results for x in r[0])
    errors = sum(r[1] for r in results)
    return {"rps": (len(lat) - errors) / elapsed, "n": len(lat), "errors": errors, "bytes": results[0][2],
            "p50_ms": lat[len(lat) // 2] * 1000, "p95_ms": lat[min(len(lat) - 1, int(len(lat) * 0.95))] * 1000}


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} CPU, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"


def generate_region(env: dict, factor: float, seed: int = 1) -> dict:
    """Create the schema and `demo --scale region` (scaled by factor) in env's database; timing and counts."""
    use_env(env)
    import esp_coord.models  # noqa: F401
    from esp_coord import create_app
    from esp_coord.core.extensions import db
    from esp_coord.demo import region

    app = create_app("production")
    with app.app_context(), app.test_request_context():
        db.create_all()
        t0 = time.perf_counter()
        summary = region.run(seed=seed, factor=factor, echo=lambda s: print(s, file=sys.stderr))
        return {"seconds": time.perf_counter() - t0, "counts": summary.counts, "factor": factor}
