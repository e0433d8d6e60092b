"""Benchmark: region-wide funding export as a background job vs one team's export, same database, same run.

    .venv/bin/python benchmarks/bench_region_export.py [--factor 1.0] [--database-url URL] [--repeat 3]

- region export: the funding feature's huey job body `funding.jobs.build_region_export` run synchronously
  (`call_local`, the same code the consumer runs: job app, `region_rows()`, template, WeasyPrint, stored document);
- reference, one team's export: the claim PDF of one team (`funding.services.claim_data` + `render_pdf` of
  `funding/pdf/claim.html`, what `funding.views.claim_pdf` serves).
Best of --repeat. Target: region ≤ 10× one team. On PostgreSQL (throw-away cluster) unless --database-url.
Last line: JSON summary (used by run_all.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TARGET = 10.0


def run(env: dict, repeat: int) -> dict:
    common.use_env(env)
    import sqlalchemy as sa

    import esp_coord.models  # noqa: F401
    from esp_coord import create_app
    from esp_coord.auth.models import User
    from esp_coord.core.extensions import db
    from esp_coord.core.pdf import render_pdf
    from esp_coord.core.time import utc_now
    from esp_coord.demo.region import ASSOCIATION_EMAIL, REFERENCE_DATE
    from esp_coord.funding import services as svc
    from esp_coord.funding.jobs import build_region_export
    from esp_coord.funding.models import Claim
    from esp_coord.reports.models import GeneratedDocument
    from esp_coord.reports.services import new_document

    app = create_app("production")
    year = REFERENCE_DATE.year - 1
    team_times, region_times = [], []
    with app.app_context(), app.test_request_context():
        assoc = db.session.execute(sa.select(User).where(User.email == ASSOCIATION_EMAIL)).scalar_one()
        claim = db.session.execute(sa.select(Claim).where(Claim.period_start == date(year, 1, 1),
                                                          Claim.status == "submitted")
                                   .order_by(Claim.id).limit(1)).scalar_one()
        teams = db.session.execute(sa.select(sa.func.count()).select_from(sa.table("team"))).scalar()
        claims = db.session.execute(sa.select(sa.func.count()).select_from(Claim)).scalar()
        for _ in range(repeat):
            db.session.expire_all()
            t0 = time.perf_counter()
            data = svc.claim_data(claim)
            pdf = render_pdf("funding/pdf/claim.html", claim=claim, data=data, generated_at=utc_now(),
                             users={p["user"]: p["name"] for p in data["professionals"]})
            team_times.append(time.perf_counter() - t0)
            team_bytes = len(pdf)
            doc = new_document("region_export", assoc, params={"year": year})
            db.session.commit()
            doc_id = str(doc.id)
            t0 = time.perf_counter()
            build_region_export.call_local(doc_id)
            region_times.append(time.perf_counter() - t0)
            db.session.expire_all()
            doc = db.session.get(GeneratedDocument, doc.id)
            assert doc.status == "done", doc.status
            region_bytes = doc.size
    ratio = min(region_times) / min(team_times)
    return {"teams": teams, "claims": claims, "team_s": min(team_times), "region_s": min(region_times),
            "ratio": ratio, "team_pdf_bytes": team_bytes, "region_pdf_bytes": region_bytes, "year": year}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factor", type=float, default=1.0)
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-export-"))
    cluster = None
    gen = None
    try:
        url = opts.database_url
        if not url:
            cluster, url = common.start_postgres()
        env = common.app_env(tmp, url)
        if not opts.database_url:
            gen = common.generate_region(env, opts.factor)
        r = run(env, opts.repeat)
    finally:
        if cluster is not None:
            common.stop_postgres(cluster)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{common.machine()}; PostgreSQL 15; {r['teams']} teams, {r['claims']} claims; best of {opts.repeat}")
    print("| export | time (s) | PDF bytes | ratio | target ≤ 10× |")
    print("|---|---:|---:|---:|---|")
    print(f"| one team's claim PDF (reference) | {r['team_s']:.3f} | {r['team_pdf_bytes']} | 1.00× | |")
    print(f"| region-wide export, background job body | {r['region_s']:.3f} | {r['region_pdf_bytes']} | "
          f"{r['ratio']:.2f}× | {'OK' if r['ratio'] <= TARGET else 'MISSED'} |")
    summary = {**r, "generation": gen}
    print(json.dumps(summary, default=str))
    return summary


if __name__ == "__main__":
    main()
