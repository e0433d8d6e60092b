"""Start a throw-away PostgreSQL cluster (initdb + pg_ctl in a temp dir, free port).

initdb refuses to run as root: commands run through `runuser -u postgres` when we are root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field


def _bin_dir() -> str | None:
    env = os.environ.get("ESP_TEST_PG_BIN")
    if env and os.path.exists(os.path.join(env, "initdb")):
        return env
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if os.path.exists(os.path.join(c, "initdb")):
            return c
    which = shutil.which("initdb")
    return os.path.dirname(which) if which else None


def pg_available() -> bool:
    return _bin_dir() is not None and (os.geteuid() != 0 or shutil.which("runuser") is not None)


def pg_reason() -> str:
    return "initdb/pg_ctl not found (apt-get install postgresql)"


def _run(*cmd: str) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + list(cmd), check=True, capture_output=True, text=True)


@dataclass
class Cluster:
    bin: str
    datadir: str
    port: int
    counter: list = field(default_factory=lambda: [0])

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self, name: str | None = None) -> str:
        import sqlalchemy as sa

        self.counter[0] += 1
        name = name or f"db{self.counter[0]}"
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def pg_dump(self, url: str) -> bytes:
        dbname = url.rsplit("/", 1)[1]
        out = subprocess.run([os.path.join(self.bin, "pg_dump"), "-h", "127.0.0.1", "-p", str(self.port),
                              "-U", "postgres", dbname], check=True, capture_output=True)
        return out.stdout


def start_cluster() -> Cluster:
    bin_dir = _bin_dir()
    datadir = tempfile.mkdtemp(prefix="pgtest-", dir="/tmp")
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _run(f"{bin_dir}/initdb", "-D", datadir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8",
         "--no-sync")
    _run(f"{bin_dir}/pg_ctl", "-D", datadir, "-l", f"{datadir}/log", "-w", "-o",
         f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start")
    return Cluster(bin=bin_dir, datadir=datadir, port=port)


def stop_cluster(cluster: Cluster) -> None:
    try:
        _run(f"{cluster.bin}/pg_ctl", "-D", cluster.datadir, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(cluster.datadir, ignore_errors=True)
