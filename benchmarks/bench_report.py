"""Annual activity report of a busy team: end-to-end vs. WeasyPrint alone on the same final HTML.

    .venv/bin/python benchmarks/bench_report.py            # 2 000 and 20 000 ledger entries
    .venv/bin/python benchmarks/bench_report.py --one 2000  # one size, JSON line (used by main())

Each size runs in its own process (peak RSS per scenario) on a fresh SQLite database:
  end_to_end = aggregate the ledger (annual_report) + render the HTML + WeasyPrint → PDF bytes
  weasyprint = html_to_pdf() alone on the very same final HTML, measured in the same run
Targets: end_to_end / weasyprint ≤ 1.3 at 2 000 entries; time(20 000) / time(2 000) ≤ 2.
"""

from __future__ import annotations

import base64
import gc
import io
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REPEAT = 7


def _app(tmp: str):
    os.environ.setdefault("ESP_COORD_HUEY_FILENAME", os.path.join(tmp, "huey.db"))
    from esp_coord import create_app

    keys = json.dumps({"current": "b1", "keys": {"b1": base64.b64encode(secrets.token_bytes(32)).decode()}})
    return create_app("testing", {"SECRET_KEY": secrets.token_urlsafe(48), "INDEX_KEY": secrets.token_urlsafe(48),
                                  "MASTER_KEYS": keys, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db"})


def _populate(n: int, year: int):
    import sqlalchemy as sa

    import esp_coord.models  # noqa: F401
    from esp_coord.activity.models import LedgerEntry
    from esp_coord.auth.models import User
    from esp_coord.core.extensions import db
    from esp_coord.core.time import utc_now
    from esp_coord.reference import ensure_all_reference_data
    from esp_coord.teams.models import Membership, Team

    db.create_all()
    ensure_all_reference_data()
    rng = random.Random(42)
    team = Team(id=uuid.uuid4(), name="ESP CLAP très active", kind="esp_clap", legal_form="association_1901",
                communes="Clisson\nGétigné")
    db.session.add(team)
    professions = ["medecin_generaliste", "infirmier", "pharmacien", "masseur_kinesitherapeute", "dieteticien",
                   "orthophoniste", "sage_femme", "pedicure_podologue"]
    users = []
    for i in range(16):
        u = User(id=uuid.uuid4(), email=f"pro{i}@bench.invalid", first_name="Pro", last_name=f"N{i}",
                 profession_code=professions[i % len(professions)])
        users.append(u)
        db.session.add(u)
    db.session.flush()
    for u in users:
        db.session.add(Membership(team_id=team.id, user_id=u.id, role="member"))
    kinds = [("RCP_SANS", "meeting"), ("RCP_AVEC", "meeting"), ("PPS_INIT", "pps"), ("PPS_REVUE", "pps_review"),
             ("PROTO_REDAC", "protocol_writing"), ("PROTO_MEO", "protocol_act"), ("PREV_ETP", None)]
    rows = []
    now = utc_now()
    start = date(year - 1, 1, 1)
    for _i in range(n):
        code, source = kinds[rng.randrange(len(kinds))]
        rows.append({"id": uuid.uuid4(), "team_id": team.id, "user_id": users[rng.randrange(len(users))].id,
                     "action_type": code, "performed_on": start + timedelta(days=rng.randrange(730)),
                     "duration_minutes": 90 if code == "PROTO_REDAC" else None,
                     "patient_count": rng.randrange(0, 6), "source_type": source,
                     "source_id": uuid.uuid4() if source else None, "status": "validated",
                     "created_at": now, "updated_at": now})
    db.session.execute(sa.insert(LedgerEntry), rows)
    db.session.commit()
    return team


def run_one(n: int) -> dict:
    year = date.today().year
    with tempfile.TemporaryDirectory() as tmp:
        app = _app(tmp)
        with app.app_context(), app.test_request_context():
            from pypdf import PdfReader

            from esp_coord.core.extensions import db
            from esp_coord.core.pdf import html_to_pdf
            from esp_coord.reports.services import annual_report_html

            team = _populate(n, year)
            html_to_pdf("<p>warm-up</p>")  # fonts and imports, excluded from both measurements
            e2e, alone, agg, pages = [], [], [], 0
            html = annual_report_html(team, year)
            for i in range(REPEAT):  # interleaved, order alternated, best of REPEAT: the machine may be shared

                def end_to_end():
                    db.session.expire_all()
                    gc.collect()
                    t0 = time.perf_counter()
                    pdf = html_to_pdf(annual_report_html(team, year))
                    e2e.append(time.perf_counter() - t0)
                    return pdf

                def weasyprint_alone():
                    gc.collect()
                    t0 = time.perf_counter()
                    html_to_pdf(html)
                    alone.append(time.perf_counter() - t0)

                if i % 2:
                    weasyprint_alone()
                    pdf = end_to_end()
                else:
                    pdf = end_to_end()
                    weasyprint_alone()
                db.session.expire_all()
                gc.collect()
                t0 = time.perf_counter()
                annual_report_html(team, year)
                agg.append(time.perf_counter() - t0)
                pages = len(PdfReader(io.BytesIO(pdf)).pages)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
    return {"entries": n, "end_to_end_s": min(e2e), "weasyprint_s": min(alone), "aggregate_html_s": min(agg),
            "pages": pages,
            "peak_rss_mib": round(rss, 1), "html_kib": round(len(html) / 1024, 1)}


def main() -> None:
    results = []
    for n in (2000, 20000):
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = results[0]
    print("| ledger entries | end-to-end (s) | WeasyPrint alone (s) | ledger → HTML (s) | ratio e2e / WeasyPrint | "
          "vs 2 000 | pages | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['entries']:,} | {r['end_to_end_s']:.3f} | {r['weasyprint_s']:.3f} | {r['aggregate_html_s']:.3f} | "
              f"{r['end_to_end_s'] / r['weasyprint_s']:.2f}× | {r['end_to_end_s'] / base['end_to_end_s']:.2f}× | "
              f"{r['pages']} | {r['peak_rss_mib']} |".replace(",", "\u202f"))
    ok1 = base["end_to_end_s"] / base["weasyprint_s"] <= 1.3
    ok2 = results[1]["end_to_end_s"] / base["end_to_end_s"] <= 2
    print(f"\ntarget e2e ≤ 1.3× WeasyPrint at 2 000: {'OK' if ok1 else 'MISSED'}; "
          f"10× entries ≤ 2× time: {'OK' if ok2 else 'MISSED'}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(run_one(int(sys.argv[2]))))
    else:
        main()
