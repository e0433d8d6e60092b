"""Alembic environment for esp_coord (Flask-Migrate).

SQLite: batch mode rebuilds tables; with foreign_keys=ON dropping the old parent table would fire
ON DELETE CASCADE on children (technical.md §6). So foreign keys are switched OFF *before* the
migration transaction, `PRAGMA foreign_key_check` must come back empty afterwards, then they are
switched back on.
"""

import logging
import os
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from flask import current_app

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


config.set_main_option("sqlalchemy.url", get_engine().url.render_as_string(hide_password=False).replace("%", "%%"))
target_db = current_app.extensions["migrate"].db


def get_metadata():
    import esp_coord.models  # noqa: F401 - every model registered

    return target_db.metadata


def include_object(obj, name, type_, reflected, compare_to):
    """ESP_MIGRATE_ONLY=table1,table2 limits autogenerate to those tables (one revision per feature)."""
    only = os.environ.get("ESP_MIGRATE_ONLY")
    if not only or type_ != "table":
        return True
    return name in only.split(",") or reflected


def render_item(type_, obj, autogen_context):
    """Render our TypeDecorators as their plain SQL types (scripts must not import app code)."""
    from esp_coord.core.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=get_metadata(),
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def process_revision_directives(context_, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args["include_object"] = include_object
    conf_args["render_item"] = render_item

    engine = get_engine()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            problems = connection.execute(sa.text("PRAGMA foreign_key_check")).fetchall()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
            if problems:
                raise RuntimeError(f"foreign key violations after migration: {problems[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
