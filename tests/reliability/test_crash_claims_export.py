"""Crash safety of claim submission and of the regional export job (SIGKILL, no clean-up, no rollback).

1. A child process calls `submit_claim` on a draft and is SIGKILLed while its transaction is still open
   (it reports "ready" after the call, then sleeps before the commit it never reaches). The claim must
   still be a plain draft, the audit chain must verify, and a new submission succeeds exactly once.
2. A child process runs the regional export job body and is SIGKILLed mid-way (after it reported progress,
   with the document row committed as "running"; either while rendering or after the finished PDF was
   flushed but not committed). Running the job again completes it: one document, "done", a full PDF.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_SECRETS
from tests.reliability.helpers import ENGINES, context, dispose, isolated_app, new_database_url

SUBMITTER = r"""
import json, os, sys, time, uuid
from esp_coord import create_app
from esp_coord.core.extensions import db

config = json.loads(os.environ["ESP_CRASH_CONFIG"])
app = create_app("testing", config)
with app.app_context():
    from esp_coord.auth.models import User
    from esp_coord.funding import services as svc
    from esp_coord.funding.models import Claim

    claim = db.session.get(Claim, uuid.UUID(sys.argv[1]))
    actor = db.session.get(User, uuid.UUID(sys.argv[2]))
    svc.submit_claim(claim, actor=actor)
    db.session.flush()  # every row of the submission is written, the transaction is still open
    print("ready", claim.status, claim.sha256, flush=True)
    time.sleep(600)
    db.session.commit()  # never reached
"""

EXPORTER = r"""
import json, os, sys, time, types
from esp_coord import create_app

config = json.loads(os.environ["ESP_CRASH_CONFIG"])
doc_id, stage = sys.argv[1], sys.argv[2]
app = create_app("testing", config)

import esp_coord.core.jobs as jobs
import esp_coord.reports.services as report_services
from esp_coord.core.extensions import db

real_progress, real_finish = jobs.progress, report_services.finish_document


def hang(what):
    print("ready", what, flush=True)
    time.sleep(600)


def progress(task_id, done, total, message=""):
    real_progress(task_id, done, total, message)
    print("progress", done, total, flush=True)
    if stage == "rendering" and done == 2:
        hang("rendering")


def finish_document(doc, data, filename, mimetype="application/pdf"):
    real_finish(doc, data, filename, mimetype)
    if stage == "storing":
        db.session.flush()  # the finished PDF is written, status "done", not committed
        hang("storing")


jobs.progress = progress
report_services.finish_document = finish_document

from esp_coord.funding.jobs import build_region_export

with app.app_context():
    build_region_export.call_local(doc_id, task=types.SimpleNamespace(id="crash-" + doc_id))
"""

READY_TIMEOUT = 60


def _env(url: str) -> dict:
    return {**os.environ, "ESP_CRASH_CONFIG": json.dumps({**TEST_SECRETS, "SQLALCHEMY_DATABASE_URI": url})}


def _wait_ready(child: subprocess.Popen) -> list[str]:
    """Lines printed by the child up to and including its "ready" line (raw reads: no buffered lines that
    select() cannot see)."""
    fd = child.stdout.fileno()
    buffer = b""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        lines = buffer[:buffer.rfind(b"\n") + 1].decode().splitlines()  # complete lines only
        if any(line.startswith("ready") for line in lines):
            return [line.strip() for line in lines]
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"child never got ready: {lines}"
        readable, _w, _x = select.select([fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            child.wait(timeout=30)
            child.err_file.seek(0)
            raise AssertionError(f"child exited {child.returncode}: {lines}\n"
                                 f"{child.err_file.read().decode(errors='replace')[-3000:]}")
        buffer += chunk


def _kill(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    child.err_file.close()


def _spawn(script: str, url: str, *args: str) -> subprocess.Popen:
    err_file = tempfile.TemporaryFile()  # a file, not a pipe: stderr output can never block the child
    child = subprocess.Popen([sys.executable, "-c", script, *args], env=_env(url), stdout=subprocess.PIPE,
                             stderr=err_file, bufsize=0)
    child.err_file = err_file
    return child


# ------------------------------------------------------------------ 1. claim submission

def _claim_setup(app) -> tuple[uuid.UUID, uuid.UUID]:
    from esp_coord.core.extensions import db
    from esp_coord.funding import services as svc
    from tests.factories import Factories
    from tests.funding.helpers import entry, meeting_entries

    f = Factories(app)
    with context(app):
        team, _other, users = f.team_with_roles()
        meeting_entries(team, [users["admin"], users["coordinator"], users["member"]], date(2026, 2, 5))
        entry(team, users["admin"], "PPS_INIT", date(2026, 4, 2), source_type="pps", source_id=uuid.uuid4(),
              patient_count=1)
        start, end = svc.period_bounds("year", 2026)
        claim = svc.create_claim(team, "year", start, end, actor=users["coordinator"])
        db.session.commit()
        assert svc.build_claim_data(claim)["entries"], "the draft must have validated entries to submit"
        return claim.id, users["coordinator"].id


def _claim_state(claim_id):
    from esp_coord.core.extensions import db
    from esp_coord.funding.models import Claim

    row = db.session.execute(sa.select(Claim.status, Claim.snapshot, Claim.sha256, Claim.total_amount,
                                       Claim.submitted_at, Claim.submitted_by_id)
                             .where(Claim.id == claim_id)).one()
    return tuple(row)


def _submit_events(claim_id) -> int:
    from esp_coord.core.audit import AuditEvent
    from esp_coord.core.extensions import db

    return db.session.execute(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "funding.claim.submit", AuditEvent.object_id == str(claim_id))).scalar_one()


@pytest.mark.parametrize("engine", ENGINES)
def test_sigkill_during_claim_submission_leaves_a_draft(request, tmp_path, engine):
    url = new_database_url(request, tmp_path, engine, "crash_claim")
    app = isolated_app(url)
    claim_id, actor_id = _claim_setup(app)
    with context(app):
        from esp_coord.core.audit import AuditHead
        from esp_coord.core.extensions import db

        head_before = db.session.get(AuditHead, 1)
        head_before = (head_before.last_seq, head_before.last_hash) if head_before else None
    dispose(app)

    child = _spawn(SUBMITTER, url, str(claim_id), str(actor_id))
    try:
        ready = _wait_ready(child)[-1].split()
        # inside its open transaction the child saw its own submission
        assert ready[1] == "submitted" and len(ready[2]) == 64
        with context(app):  # another connection does not see the uncommitted submission
            assert _claim_state(claim_id)[:3] == ("draft", None, None)
    finally:
        _kill(child)
    assert child.returncode == -signal.SIGKILL
    dispose(app)

    from esp_coord.core.audit import AuditHead, verify_chain
    from esp_coord.core.extensions import db
    from esp_coord.funding import services as svc
    from esp_coord.funding.models import Claim

    with context(app):
        assert _claim_state(claim_id) == ("draft", None, None, None, None, None)
        assert _submit_events(claim_id) == 0
        result = verify_chain()
        assert result.ok, (result.first_bad_seq, result.reason)
        head = db.session.get(AuditHead, 1)
        assert ((head.last_seq, head.last_hash) if head else None) == head_before

    # submitting again (in-process) succeeds once; a second attempt is refused
    with context(app):
        from esp_coord.auth.models import User

        claim, actor = db.session.get(Claim, claim_id), db.session.get(User, actor_id)
        svc.submit_claim(claim, actor=actor)
        db.session.commit()
    with context(app):
        claim, actor = db.session.get(Claim, claim_id), db.session.get(User, actor_id)
        assert claim.status == "submitted" and svc.verify_claim(claim)
        sha = claim.sha256
        with pytest.raises(svc.FundingError):
            svc.submit_claim(claim, actor=actor)
        db.session.rollback()
    with context(app):
        claim = db.session.get(Claim, claim_id)
        assert claim.status == "submitted" and claim.sha256 == sha and svc.verify_claim(claim)
        assert _submit_events(claim_id) == 1
        assert verify_chain().ok
    dispose(app)


# ------------------------------------------------------------------ 2. regional export job

def _export_setup(app) -> tuple[uuid.UUID, str]:
    from esp_coord.core.extensions import db
    from esp_coord.reports.services import new_document
    from tests.factories import Factories
    from tests.funding.helpers import meeting_entries

    f = Factories(app)
    with context(app):
        team, _other, users = f.team_with_roles()
        meeting_entries(team, [users["admin"], users["coordinator"]], date(2026, 3, 9))
        doc = new_document("region_export", users["association"], params={"year": 2026})
        db.session.commit()
        return doc.id, team.name


def _documents():
    from esp_coord.core.extensions import db
    from esp_coord.reports.models import GeneratedDocument

    return db.session.execute(sa.select(GeneratedDocument.id, GeneratedDocument.status, GeneratedDocument.data,
                                        GeneratedDocument.size, GeneratedDocument.filename,
                                        GeneratedDocument.finished_at)
                              .where(GeneratedDocument.kind == "region_export")).all()


@pytest.mark.parametrize("stage", ["rendering", "storing"])
@pytest.mark.parametrize("engine", ENGINES)
def test_sigkill_during_region_export_then_restart(request, tmp_path, engine, stage):
    from pypdf import PdfReader

    url = new_database_url(request, tmp_path, engine, "crash_export")
    app = isolated_app(url)
    doc_id, team_name = _export_setup(app)
    dispose(app)

    child = _spawn(EXPORTER, url, str(doc_id), stage)
    try:
        lines = _wait_ready(child)
        assert any(line.startswith("progress") for line in lines), lines  # it reported progress first
        assert lines[-1] == f"ready {stage}"
        with context(app):
            [(_id, status, data, _size, _name, finished)] = _documents()
            assert (status, data, finished) == ("running", None, None)  # committed "running", nothing else
    finally:
        _kill(child)
    assert child.returncode == -signal.SIGKILL
    dispose(app)

    with context(app):  # after the crash: still "running", never a half document marked "done"
        [(_id, status, data, _size, _name, finished)] = _documents()
        assert (status, data, finished) == ("running", None, None)

    from esp_coord.funding.jobs import build_region_export

    with context(app):  # the worker (or the user) runs the job again
        assert build_region_export.call_local(str(doc_id)) == str(doc_id)
    with context(app):
        rows = _documents()
        assert len(rows) == 1
        [(got_id, status, data, size, filename, finished)] = rows
        assert got_id == doc_id and status == "done" and finished is not None
        assert data and size == len(data) and data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        assert filename == "export-regional-2026.pdf"
        text = " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())
        assert team_name in text and "2026" in text
    dispose(app)
