"""Crash safety of the audit chain: a writer SIGKILLed mid-loop leaves no half-written row.

A child process appends audit rows in transactions of random size as fast as it can; it is killed with
SIGKILL (no clean-up, no rollback) at random moments, several times. After each kill the chain verifies,
the head matches the last row, and a new writer can continue the chain.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_SECRETS
from tests.reliability.helpers import ENGINES, context, dispose, isolated_app, new_database_url

WRITER = r"""
import json, os, random, sys
from esp_coord import create_app
from esp_coord.core import audit
from esp_coord.core.extensions import db

config = json.loads(os.environ["ESP_CRASH_CONFIG"])
app = create_app("testing", config)
rng = random.Random(int(sys.argv[1]))
with app.app_context():
    n = 0
    while True:
        for _ in range(rng.randint(1, 20)):
            n += 1
            audit.record("crash.test", object_type="loop", object_id=n,
                         details={"n": n, "pad": "é" * rng.randint(0, 500)})
        db.session.commit()
        if n < 25:
            continue
        if not os.path.exists(sys.argv[2]):
            open(sys.argv[2], "w").close()
"""

KILLS = 3


def _count(app) -> int:
    from esp_coord.core.audit import AuditEvent
    from esp_coord.core.extensions import db

    with context(app):
        return db.session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one()


@pytest.mark.parametrize("engine", ENGINES)
def test_sigkill_during_audit_appends_leaves_a_verifiable_chain(request, tmp_path, engine):
    url = new_database_url(request, tmp_path, engine, "crash")
    app = isolated_app(url)
    dispose(app)
    env = {**os.environ, "ESP_CRASH_CONFIG": json.dumps({**TEST_SECRETS, "SQLALCHEMY_DATABASE_URI": url})}
    rng = random.Random(20261123)
    previous = 0
    for round_no in range(KILLS):
        ready = tmp_path / f"ready-{round_no}"
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(round_no), str(ready)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                assert child.poll() is None, child.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "writer never got going"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.05, 0.5))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            child.stderr.close()
        assert child.returncode == -signal.SIGKILL

        from esp_coord.core.audit import AuditEvent, AuditHead, verify_chain
        from esp_coord.core.extensions import db

        with context(app):
            result = verify_chain()
            assert result.ok, (result.first_bad_seq, result.reason)
            head = db.session.get(AuditHead, 1)
            last = db.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
            assert (head.last_seq, head.last_hash) == (last.seq, last.hash)
            assert result.checked == head.last_seq > previous
            previous = head.last_seq
        dispose(app)
        # the next writer continues the same chain after the crash
    with context(app):
        from esp_coord.core import audit
        from esp_coord.core.extensions import db

        audit.record("after.crash")
        db.session.commit()
        assert audit.verify_chain().ok
    assert _count(app) == previous + 1
    dispose(app)
