"""`esp-coord audit export` (JSON Lines for off-host shipping) and `audit purge` (anchor moved, chain verifiable)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from esp_coord.core import audit
from tests.reliability.helpers import ENGINES, context, dispose, isolated_app, new_database_url


@pytest.fixture(params=ENGINES)
def audit_app(request, tmp_path):
    app = isolated_app(new_database_url(request, tmp_path, request.param, "audit"))
    with context(app):
        yield app
    dispose(app)


def _write(monkeypatch, when: datetime, n: int, action: str = "test.event"):
    from esp_coord.core.extensions import db

    monkeypatch.setattr(audit, "utc_now", lambda: when)
    for i in range(n):
        audit.record(action, object_type="thing", object_id=i, details={"i": i})
    db.session.commit()
    monkeypatch.undo()


def _start(monkeypatch) -> int:
    """Rows written by the fixtures (reference data) keep their real timestamps; return the current seq."""
    from esp_coord.core.extensions import db

    head = db.session.get(audit.AuditHead, 1)
    return head.last_seq if head else 0


def test_export_writes_json_lines_with_hashes_and_remembers_position(audit_app, tmp_path, monkeypatch):
    start = _start(monkeypatch)
    _write(monkeypatch, datetime(2024, 1, 10, tzinfo=UTC), 6)
    out, state = tmp_path / "audit.jsonl", tmp_path / "audit.seq"
    runner = audit_app.test_cli_runner()
    result = runner.invoke(args=["audit", "export", "--output", str(out), "--state-file", str(state)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["seq"] for r in lines] == list(range(1, start + 7))
    for prev, row in zip(lines, lines[1:], strict=False):
        assert row["prev_hash"] == prev["hash"]
    assert lines[-1]["details"] == json.dumps({"i": 5})
    assert int(state.read_text()) == start + 6
    # the export itself is audited; the next run starts after the remembered position
    result = runner.invoke(args=["audit", "export", "--output", str(out), "--state-file", str(state)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["action"] for r in lines] == ["audit.export"]
    assert lines[0]["prev_hash"] != "0" * 64


def test_purge_moves_the_anchor_and_the_chain_still_verifies(audit_app, monkeypatch):
    from esp_coord.core.extensions import db

    start = _start(monkeypatch)
    assert start == 0  # reference data writes no audit rows; the numbers below rely on it
    _write(monkeypatch, datetime(2024, 1, 10, tzinfo=UTC), 10, "old.event")
    _write(monkeypatch, datetime.now(UTC) - timedelta(days=1), 5, "recent.event")
    tenth_hash = db.session.execute(sa.select(audit.AuditEvent.hash).where(audit.AuditEvent.seq == 10)).scalar_one()
    runner = audit_app.test_cli_runner()

    refused = runner.invoke(args=["audit", "purge", "--before", datetime.now(UTC).date().isoformat(), "--yes"])
    assert refused.exit_code != 0 and "AUDIT_RETENTION_DAYS" in refused.output

    result = runner.invoke(args=["audit", "purge", "--before", "2025-01-01", "--yes"])
    assert result.exit_code == 0, result.output
    assert "10 lignes supprimées" in result.output and "chaîne intacte" in result.output
    db.session.expire_all()
    head = db.session.get(audit.AuditHead, 1)
    assert (head.anchor_seq, head.anchor_hash) == (10, tenth_hash)
    remaining = db.session.execute(sa.select(audit.AuditEvent.action).order_by(audit.AuditEvent.seq)).scalars().all()
    assert remaining == ["recent.event"] * 5 + ["audit.purge"]
    assert audit.verify_chain().ok and audit.verify_chain().checked == 6
    # purging again removes nothing
    assert audit.purge_before(datetime(2025, 1, 1, tzinfo=UTC)).purged == 0
    db.session.commit()

    # tampering with a remaining row is still detected
    db.session.execute(sa.update(audit.AuditEvent).where(audit.AuditEvent.seq == 12).values(action="x"))
    db.session.commit()
    result = audit.verify_chain()
    assert not result.ok and result.first_bad_seq == 12
    # and a broken chain is never purged (it would erase the evidence)
    with pytest.raises(RuntimeError):
        audit.purge_before(datetime(2030, 1, 1, tzinfo=UTC))
    db.session.rollback()
    refused = runner.invoke(args=["audit", "purge", "--before", "2025-06-01", "--yes"])
    assert refused.exit_code != 0 and "purge refusée" in refused.output


def test_removing_the_first_row_after_the_anchor_is_detected(audit_app, monkeypatch):
    from esp_coord.core.extensions import db

    _write(monkeypatch, datetime(2024, 1, 10, tzinfo=UTC), 4, "old.event")
    _write(monkeypatch, datetime(2025, 6, 1, tzinfo=UTC), 3, "kept.event")
    result = audit.purge_before(datetime(2025, 1, 1, tzinfo=UTC))
    db.session.commit()
    assert result.purged == 4 and audit.verify_chain().ok
    db.session.execute(sa.delete(audit.AuditEvent).where(audit.AuditEvent.seq == 5))
    db.session.commit()
    check = audit.verify_chain()
    assert not check.ok and check.first_bad_seq == 5


def test_purge_of_everything_keeps_appending_verifiable(audit_app, monkeypatch):
    from esp_coord.core.extensions import db

    _write(monkeypatch, datetime(2024, 1, 10, tzinfo=UTC), 3)
    assert audit.purge_before(datetime(2025, 1, 1, tzinfo=UTC)).purged == 3
    db.session.commit()
    assert audit.verify_chain().ok
    audit.record("after.purge")
    db.session.commit()
    assert audit.verify_chain().ok and audit.verify_chain().checked == 1
