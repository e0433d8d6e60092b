"""Migrations are code under test: every revision up and down, on SQLite and PostgreSQL, with rows present
that survive, and the head schema equals the models (no pending autogenerate diff)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from esp_coord.resources import resource_path
from tests.conftest import make_app


def _revisions():
    from alembic.config import Config

    cfg = Config(str(resource_path("migrations") / "alembic.ini"))
    cfg.set_main_option("script_location", str(resource_path("migrations")))
    script = ScriptDirectory.from_config(cfg)
    return list(reversed(list(script.walk_revisions())))  # base -> head


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrate.db'}"
    return request.getfixturevalue("pg_cluster").new_database()


def _seed_core_rows(app):
    """Rows in the first revision's tables (users, teams, memberships, ledger, audit)."""
    from esp_coord.activity.services import record_action
    from esp_coord.auth.models import User
    from esp_coord.core import audit
    from esp_coord.core.extensions import db
    from esp_coord.reference import ensure_reference_data
    from esp_coord.teams.models import Membership, Team

    ensure_reference_data()
    user = User(email="migr@example.org", first_name="Anne", last_name="Migration",
                profession_code="medecin_generaliste")
    team = Team(name="Équipe migration", kind="esp_clap", legal_form="none")
    db.session.add_all([user, team])
    db.session.flush()
    db.session.add(Membership(team_id=team.id, user_id=user.id, role="admin"))
    record_action(team=team, user_id=user.id, action_type="RCP_SANS", performed_on=date(2026, 3, 2),
                  patient_count=3)
    audit.record("test.migration", actor_id=user.id, team_id=team.id)
    ids = (user.id, team.id)
    db.session.commit()
    db.session.remove()  # no open transaction may hold locks while the migrations run
    return ids


def _count(table):
    from esp_coord.core.extensions import db

    return db.session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


def test_upgrade_downgrade_upgrade_keeps_rows(fresh_url):
    revisions = _revisions()
    assert revisions, "no migration found"
    app = make_app(fresh_url)
    with app.app_context():
        from esp_coord.core.audit import verify_chain
        from esp_coord.core.extensions import db

        upgrade()
        user_id, team_id = _seed_core_rows(app)
        first = revisions[0].revision
        # walk down one revision at a time to the first one (its tables keep their rows)
        for rev in reversed(revisions[1:]):
            downgrade(revision=rev.down_revision)
        db.session.remove()
        assert _count("user_account") == 1
        assert _count("ledger_entry") == 1
        assert _count("team") == 1
        # and back up, one revision at a time
        for rev in revisions[1:]:
            upgrade(revision=rev.revision)
        db.session.remove()
        assert _count("user_account") == 1 and _count("membership") == 1
        assert verify_chain().ok
        assert first == revisions[0].revision
        assert str(user_id) and str(team_id)
        db.engine.dispose()


def test_models_match_migration_head(fresh_url):
    import esp_coord.models  # noqa: F401

    app = make_app(fresh_url)
    with app.app_context():
        from esp_coord.core.extensions import db

        upgrade()
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            diff = compare_metadata(ctx, db.metadata)
        db.engine.dispose()
    assert diff == [], f"models and migrations differ: {diff[:5]}"


def test_reference_data_seeded_by_first_migration(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'ref.db'}")
    with app.app_context():
        upgrade()
        assert _count("profession") >= 13
        assert _count("action_type") >= 9
