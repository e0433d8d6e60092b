"""SQLite connection pragmas (WAL, foreign keys, busy timeout) on every new connection."""

from __future__ import annotations

import sqlalchemy as sa


def install_sqlite_pragmas(engine: sa.Engine, busy_timeout_ms: int = 5000) -> None:
    if engine.dialect.name != "sqlite" or getattr(engine, "_esp_pragmas", False):
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every sqlite test
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    engine._esp_pragmas = True  # type: ignore[attr-defined]
