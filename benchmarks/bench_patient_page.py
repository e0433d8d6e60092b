"""Benchmark: patient page with 100 encrypted notes vs the same page rendering the same plaintext.

    .venv/bin/python benchmarks/bench_patient_page.py [--rounds 40]

Both variants run the real view through the test client (login, audit write, template, timeline
hooks); the reference swaps the note reader and the identity decryption for lookups of the same
plaintext prepared beforehand, so the difference is the cost of decryption (DEK unwrap once per
request, then one AES-GCM decryption per note and per identity field). Each request has its own
application context, so the per-request DEK cache starts empty every time, as in production.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--notes", type=int, default=100)
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="bench-patients-")
    os.environ.setdefault("ESP_COORD_HUEY_FILENAME", os.path.join(tmp, "huey.db"))
    from esp_coord import create_app

    ring = json.dumps({"current": "b1", "keys": {"b1": base64.b64encode(secrets.token_bytes(32)).decode()}})
    app = create_app("testing", {"SECRET_KEY": secrets.token_urlsafe(48), "INDEX_KEY": secrets.token_urlsafe(48),
                                 "MASTER_KEYS": ring, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db",
                                 "LOG_LEVEL": "WARNING"})
    import logging

    logging.getLogger("esp_coord").setLevel(logging.WARNING)
    import esp_coord.models  # noqa: F401
    from esp_coord.core.extensions import db
    from esp_coord.patients import services, views
    from esp_coord.patients.access import identity
    from esp_coord.reference import ensure_all_reference_data
    from tests.factories import Factories

    client = app.test_client()
    with app.app_context():
        db.create_all()
        ensure_all_reference_data()
        db.session.commit()
        f = Factories(app)
        team = f.team()
        users = [f.user(p) for p in ("medecin_generaliste", "infirmier", "pharmacien")]
        for u in users:
            f.member(team, u, "member")
        patient = f.patient(team, users[0], birth_name="Guillou", first_names="Marguerite",
                            birth_date=date(1938, 5, 2))
        texts = {}
        for i in range(args.notes):
            body = (f"Note {i} : passage à domicile, tension 13/8, pas de chute depuis la dernière visite. "
                    "Observance correcte du traitement, pilulier préparé pour la semaine. " * 2).strip()
            note = services.add_note(patient, category=("clinical", "social", "coordination")[i % 3], body=body,
                                     actor=users[i % 3])
            texts[note.id] = body
        db.session.commit()
        plain_identity = identity(patient)
        f.login(client, users[0])
        url = f"/patients/{team.id}/{patient.id}"
    real_reader, real_identity = views.NOTE_READER, views.identity

    def encrypted():
        views.NOTE_READER, views.identity = real_reader, real_identity

    def plaintext():
        views.NOTE_READER = lambda note: texts[note.id]
        views.identity = lambda _p: plain_identity

    def one(setup) -> float:
        setup()
        start = time.perf_counter()
        resp = client.get(url)
        elapsed = time.perf_counter() - start
        assert resp.status_code == 200 and "Note 99" in resp.get_data(as_text=True), resp.status_code
        return elapsed

    for _ in range(5):  # warm-up (templates, translations, connections)
        one(encrypted)
        one(plaintext)
    enc, ref = [], []
    for _ in range(args.rounds):  # interleaved so drift affects both equally
        enc.append(one(encrypted))
        ref.append(one(plaintext))
    encrypted()
    e, r = statistics.median(enc), statistics.median(ref)
    print(f"patient page, {args.notes} notes, {args.rounds} rounds (median)")
    print("| variant | median (ms) | p90 (ms) |")
    print("|---|---:|---:|")
    p90 = {"ref": sorted(ref)[int(len(ref) * .9)], "enc": sorted(enc)[int(len(enc) * .9)]}
    print(f"| plaintext (reference) | {r * 1000:.1f} | {p90['ref'] * 1000:.1f} |")
    print(f"| encrypted (AES-256-GCM, per-patient DEK) | {e * 1000:.1f} | {p90['enc'] * 1000:.1f} |")
    print(f"ratio encrypted / plaintext: {e / r:.3f}x (target <= 1.15x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
