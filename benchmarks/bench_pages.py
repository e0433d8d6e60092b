"""Benchmark: main pages under gunicorn on PostgreSQL with the regional dataset, vs a bare Flask page.

    .venv/bin/python benchmarks/bench_pages.py [--factor 0.1] [--requests 400] [--clients 4] [--workers 2]
                                               [--database-url URL]  # reuse a generated region database
                                               [--profile]           # pyinstrument profile of each page

Starts a throw-away PostgreSQL cluster, generates `esp-coord demo --scale region` scaled by --factor (every count
scales, so the per-team density — what these team pages read — is that of the full region), starts gunicorn
twice with the same settings (the app, a bare Flask "hello" page), and loads each page from client processes
(new TCP connection per request, 127.0.0.1 only, bounded number of requests). Prints req/s, p50, p95 and the
ratios to "hello" measured in the same run. Target: every page ≥ 35 % of hello's throughput.
Last line: a JSON summary (used by run_all.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TARGET = 0.35


def prepare(env: dict, factor: float, generate: bool) -> dict:
    """Generate the region (unless reusing), pick a team admin, return cookie and page URLs."""
    common.use_env(env)
    import sqlalchemy as sa

    import esp_coord.models  # noqa: F401
    from esp_coord import create_app
    from esp_coord.core.extensions import db
    from esp_coord.demo import region
    from esp_coord.patients.models import Patient, PatientNote
    from esp_coord.teams.models import Membership, Team

    app = create_app("production")
    with app.app_context(), app.test_request_context():
        gen = None
        if generate:
            db.create_all()
            t0 = time.perf_counter()
            summary = region.run(seed=1, factor=factor, echo=lambda s: print(s, file=sys.stderr))
            gen = {"seconds": time.perf_counter() - t0, "counts": summary.counts, "factor": factor}
        patient_id, team_id = db.session.execute(
            sa.select(Patient.id, Patient.team_id).join(PatientNote, PatientNote.patient_id == Patient.id)
            .order_by(Patient.id).limit(1)).one()
        team = db.session.get(Team, team_id)
        admin = db.session.execute(sa.select(Membership).where(Membership.team_id == team.id,
                                                               Membership.role == "admin")).scalars().first().user
        cookie = common.session_cookie(app, admin)
        sizes = {t.name: db.session.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                 for t in db.metadata.sorted_tables
                 if t.name in ("team", "user_account", "patient", "meeting", "care_plan", "protocol", "ledger_entry",
                               "funding_claim", "task", "audit_event", "patient_name_index")}
    pages = [("dashboard", "/"), ("meeting list", "/reunions/"), ("patient page", f"/patients/{team.id}/{patient_id}"),
             ("mes tâches", "/taches/"), ("team activity", f"/actions/equipe/{team.id}")]
    return {"cookie": cookie, "pages": pages, "generation": gen, "sizes": sizes}


def profile(env: dict, cookie: str, pages) -> dict:
    """pyinstrument profile of one request per page (in-process, same database), text summaries."""
    from pyinstrument import Profiler

    from esp_coord import create_app

    common.use_env(env)
    app = create_app("production")
    client = app.test_client()
    key, value = cookie.split("=", 1)
    client.set_cookie(key, value)  # the test client replaces a Cookie header with its own jar
    out = {}
    for name, url in pages:
        assert client.get(url).status_code == 200, url
        prof = Profiler(interval=0.0005)
        prof.start()
        for _ in range(5):
            client.get(url)
        prof.stop()
        out[name] = prof.output_text(unicode=True, color=False, show_all=False)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factor", type=float, default=0.1)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url")
    parser.add_argument("--profile", action="store_true")
    opts = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    cluster = None
    procs = []
    try:
        url = opts.database_url
        if not url:
            cluster, url = common.start_postgres()
        env = common.app_env(tmp, url)
        info = prepare(env, opts.factor, generate=not opts.database_url)
        headers = {"Cookie": info["cookie"]}
        p_hello, p_app = common.free_port(), common.free_port()
        procs.append(common.start(common.gunicorn_cmd(opts.workers, p_hello, "common:hello_app()"), env, p_hello, "/"))
        procs.append(common.start(common.gunicorn_cmd(opts.workers, p_app, "common:esp_app()"), env, p_app, "/sante"))
        for name, path in info["pages"]:
            status, body = common.get(p_app, path, headers)
            assert status == 200, (name, path, status, body[:300])
        rows = []
        with ProcessPoolExecutor(opts.clients) as pool:
            rows.append(("bare Flask page (hello)", "/", common.measure(pool, p_hello, "/", {}, opts.requests * 2,
                                                                        opts.clients)))
            rows.append(("app health page /sante (1 query)", "/sante",
                         common.measure(pool, p_app, "/sante", {}, opts.requests, opts.clients)))
            for name, path in info["pages"]:
                rows.append((name, path, common.measure(pool, p_app, path, headers, opts.requests, opts.clients)))
                print(f"measured {name}: {rows[-1][2]['rps']:.1f} req/s", file=sys.stderr, flush=True)
        profiles = profile(env, info["cookie"], info["pages"]) if opts.profile else {}
    finally:
        common.stop(procs)
        if cluster is not None:
            common.stop_postgres(cluster)
        shutil.rmtree(tmp, ignore_errors=True)
    hello = rows[0][2]
    print(f"{common.machine()}; gunicorn sync workers={opts.workers}, {opts.clients} client processes, "
          f"{opts.requests} requests per page; PostgreSQL 15; "
          + (f"region factor {opts.factor}" if not opts.database_url else "reused region database"))
    print("| page | req/s | vs hello | p50 (ms) | p95 (ms) | p95 vs hello | errors | target ≥ 35 % |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    results = []
    for name, path, r in rows:
        ratio = r["rps"] / hello["rps"]
        ok = "—" if path in ("/", "/sante") and name != "dashboard" else ("OK" if ratio >= TARGET else "MISSED")
        print(f"| {name} | {r['rps']:.0f} | {ratio:.0%} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
              f"{r['p95_ms'] / hello['p95_ms']:.1f}× | {r['errors']} | {ok} |")
        results.append({"page": name, "path": path, **r, "ratio": ratio})
    for name, text in profiles.items():
        print(f"\n--- pyinstrument, {name} (5 requests) ---\n{text[:4000]}")
    summary = {"rows": results, "generation": info["generation"], "sizes": info["sizes"], "factor": opts.factor,
               "profiles": profiles}
    print(json.dumps(summary, default=str))
    return summary


if __name__ == "__main__":
    main()
