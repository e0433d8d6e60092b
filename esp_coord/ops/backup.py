"""Backup and restore of the database: `esp-coord backup OUTPUT [--keys-out FILE]`, `esp-coord restore ARCHIVE`.

Archive (tar.gz, mode 0600) — never contains a master key:

    manifest.json          format, app version, alembic revision, engine, created_at, counts,
                           SHA-256 and size of every other member, key ids + key check values
    database.sqlite3       SQLite: consistent copy made with the sqlite3 online backup API (WAL-safe)
    database.pgdump        PostgreSQL: `pg_dump --format=custom`

The per-patient data keys are in the dump, *wrapped* under the master keys: the archive alone cannot
be decrypted. The keyring (ESP_COORD_MASTER_KEYS) is written only on request, to a separate 0600
file (`--keys-out`), to be stored somewhere else than the archives (see docs/operations.md).

The manifest records, for each master key id referenced by a data key, a *key check value*
(HMAC of a constant under a key derived from the master key — it reveals nothing usable about the
key) so `restore` can tell a wrong keyring before touching the target database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess  # nosec B404
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from esp_coord.core import crypto
from esp_coord.core.time import utc_now

FORMAT = "esp-coord-backup/1"
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
PG_MEMBER = "database.pgdump"
KEY_CHECK_INFO = b"esp-coord/key-check/v1"
CHUNK = 1024 * 1024
_SAFE_MEMBER = re.compile(r"^[a-z0-9_.-]{1,64}$")


class BackupError(Exception):
    """A refused or failed backup/restore; the message is French and meant for the operator."""


@dataclass
class RestoreReport:
    engine: str
    manifest: dict
    patients: int = 0
    readable: int = 0
    unreadable: int = 0
    erased: int = 0
    data_keys: int = 0
    data_keys_unreadable: int = 0
    audit_ok: bool = True
    audit_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.unreadable == 0 and self.data_keys_unreadable == 0 and self.audit_ok


# ---------------------------------------------------------------- helpers


def engine_name(url: str | sa.URL) -> str:
    name = sa.make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"Moteur de base non pris en charge : {name}")
    return name


def _sqlite_path(url: str | sa.URL) -> Path:
    database = sa.make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("Base SQLite en mémoire : rien à sauvegarder ou restaurer.")
    return Path(database).resolve()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def key_check_value(master_key: bytes) -> str:
    """Fingerprint of a master key that can be stored next to the data (no key material recoverable)."""
    return hmac.new(crypto.hkdf(master_key, KEY_CHECK_INFO), b"esp-coord key check", hashlib.sha256).hexdigest()[:16]


def keyring_json(keyring: dict) -> str:
    """The configured keyring in the ESP_COORD_MASTER_KEYS format (base64 values)."""
    return json.dumps({"current": keyring["current"],
                       "keys": {kid: base64.b64encode(key).decode() for kid, key in keyring["keys"].items()}},
                      indent=2)


def _app_version() -> str:
    try:
        return metadata.version("esp_coord")
    except metadata.PackageNotFoundError:  # pragma: no cover - source checkout without install
        return "unknown"


def _alembic_revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return ",".join(sorted(rows)) or None


def _count(conn: sa.Connection, table: str) -> int | None:
    if not sa.inspect(conn).has_table(table):
        return None
    return conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()


def _referenced_master_keys(conn: sa.Connection) -> list[str]:
    if not sa.inspect(conn).has_table("patient_key"):
        return []
    return sorted(conn.execute(sa.text("SELECT DISTINCT master_key_id FROM patient_key")).scalars().all())


def _open_private(path: Path):
    """Create a new file readable by the owner only (refuses to overwrite)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"Le fichier existe déjà, refus de l'écraser : {path}") from None
    return os.fdopen(fd, "wb")


# ---------------------------------------------------------------- PostgreSQL tools


def _pg_env_and_args(url: str | sa.URL) -> tuple[dict, list[str], str]:
    u = sa.make_url(url)
    env = dict(os.environ)
    args: list[str] = []
    query = dict(u.query)
    host = u.host or query.get("host")
    if host:
        args += ["-h", str(host)]
    if u.port:
        args += ["-p", str(u.port)]
    if u.username:
        args += ["-U", u.username]
    if u.password:
        env["PGPASSWORD"] = u.password  # never on the command line (visible in ps)
    for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("sslcert", "PGSSLCERT"),
                     ("sslkey", "PGSSLKEY")):
        if key in query:
            env[var] = str(query[key])
    if not u.database:
        raise BackupError("L'URL PostgreSQL ne nomme pas de base de données.")
    return env, args, u.database


def pg_tool(app: Flask, name: str, server_major: int) -> str:
    """Path of pg_dump/pg_restore matching the server's major version (configurable with PG_BIN_DIR)."""
    candidates = []
    if app.config.get("PG_BIN_DIR"):
        candidates.append(Path(app.config["PG_BIN_DIR"]) / name)
    candidates += [Path(f"/usr/lib/postgresql/{server_major}/bin") / name,
                   Path(f"/usr/pgsql-{server_major}/bin") / name]
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            # fixed tool path, argument list, no shell
            probe = [str(path), "--version"]
            version = subprocess.run(probe, capture_output=True, text=True, check=False).stdout  # nosec B603
            match = re.search(r"(\d+)(?:\.\d+)?", version)
            if match and int(match.group(1)) >= server_major:
                return str(path)
    raise BackupError(f"{name} (PostgreSQL ≥ {server_major}) introuvable : installez le client PostgreSQL "
                      f"ou indiquez son dossier dans ESP_COORD_PG_BIN_DIR.")


def _server_major(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SHOW server_version_num")).scalar_one()) // 10000


def _run_tool(cmd: list[str], env: dict, what: str) -> None:
    # argument list (no shell); the password travels in PGPASSWORD, never on the command line
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # nosec B603
    if result.returncode != 0:
        # stderr of pg_dump/pg_restore names objects, never row contents
        detail = (result.stderr or "").strip().splitlines()[-5:]
        raise BackupError(f"{what} a échoué (code {result.returncode}) : " + " | ".join(detail))


# ---------------------------------------------------------------- backup


def create_backup(app: Flask, output: Path, keys_out: Path | None = None) -> dict:
    """Write the archive to `output` (and the keyring to `keys_out` if given). Returns the manifest."""
    from esp_coord.core.extensions import db

    output = Path(output).resolve()
    if keys_out is not None:
        keys_out = Path(keys_out).resolve()
        if keys_out == output:
            raise BackupError("Le trousseau de clés ne peut pas être écrit dans l'archive elle-même.")
    if output.exists():
        raise BackupError(f"Le fichier existe déjà, refus de l'écraser : {output}")
    if keys_out is not None and keys_out.exists():
        raise BackupError(f"Le fichier existe déjà, refus de l'écraser : {keys_out}")
    url = db.engine.url
    engine = engine_name(url)
    keyring = app.config.get("MASTER_KEYS") or {"current": None, "keys": {}}
    with tempfile.TemporaryDirectory(prefix="esp-backup-") as tmp:
        os.chmod(tmp, 0o700)
        tmpdir = Path(tmp)
        with db.engine.connect() as conn:
            revision = _alembic_revision(conn)
            key_ids = _referenced_master_keys(conn)
            counts = {t: _count(conn, t) for t in ("patient", "patient_key", "audit_event")}
            server_major = _server_major(conn) if engine == "postgresql" else None
        if engine == "sqlite":
            member = SQLITE_MEMBER
            _sqlite_online_backup(_sqlite_path(url), tmpdir / member)
        else:
            member = PG_MEMBER
            env, args, dbname = _pg_env_and_args(url)
            _run_tool([pg_tool(app, "pg_dump", server_major), "--format=custom", "--no-password", *args,
                       "--file", str(tmpdir / member), dbname], env, "pg_dump")
        missing = [k for k in key_ids if k not in keyring["keys"]]
        manifest = {
            "format": FORMAT,
            "app_version": _app_version(),
            "alembic_revision": revision,
            "engine": engine,
            "server_major": server_major,
            "created_at": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "counts": counts,
            "master_keys": {k: key_check_value(keyring["keys"][k]) for k in key_ids if k in keyring["keys"]},
            "master_keys_missing": missing,
            "members": {member: {"sha256": _sha256_file(tmpdir / member), "size": (tmpdir / member).stat().st_size}},
        }
        manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
        partial = output.with_name(output.name + ".partial")
        try:
            with _open_private(partial) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode, info.mtime = len(manifest_bytes), 0o600, int(utc_now().timestamp())
                tar.addfile(info, io.BytesIO(manifest_bytes))
                tar.add(tmpdir / member, arcname=member, recursive=False, filter=_normalise_member)
            os.replace(partial, output)
        finally:
            if partial.exists():
                partial.unlink()
    if keys_out is not None:
        with _open_private(keys_out) as fh:
            fh.write(keyring_json(keyring).encode())
    return manifest


def _normalise_member(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


def _sqlite_online_backup(source: Path, dest: Path) -> None:
    """Consistent copy with the online backup API (sees committed WAL content), as a single file."""
    if not source.exists():
        raise BackupError(f"Base SQLite introuvable : {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    try:
        src.execute("PRAGMA busy_timeout=10000")
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # self-contained file, no -wal to carry along
        dst.commit()
    finally:
        dst.close()
        src.close()


# ---------------------------------------------------------------- restore


def read_archive(archive: Path, workdir: Path) -> tuple[dict, Path]:
    """Check the archive against its manifest; extract the dump to workdir. Raises BackupError."""
    try:
        tar = tarfile.open(archive, mode="r:gz")
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise BackupError(f"Archive illisible : {exc}") from None
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise BackupError(f"Archive corrompue : {exc}") from None
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise BackupError("Archive refusée : membres en double.")
        by_name = {m.name: m for m in members}
        if MANIFEST not in by_name:
            raise BackupError("Archive refusée : manifest.json absent.")
        for m in members:
            if not m.isfile() or not _SAFE_MEMBER.match(m.name):
                raise BackupError(f"Archive refusée : membre inattendu {m.name!r}.")
        try:
            manifest = json.loads(tar.extractfile(by_name[MANIFEST]).read(1024 * 1024))
        except (ValueError, tarfile.TarError, OSError, EOFError):
            raise BackupError("Archive refusée : manifest.json illisible.") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError("Archive refusée : format de sauvegarde inconnu.")
        expected = manifest.get("members") or {}
        if set(expected) != set(names) - {MANIFEST} or len(expected) != 1:
            raise BackupError("Archive refusée : la liste des fichiers ne correspond pas au manifeste.")
        (member_name, meta), = expected.items()
        if member_name not in (SQLITE_MEMBER, PG_MEMBER):
            raise BackupError(f"Archive refusée : membre inattendu {member_name!r}.")
        target = workdir / member_name
        digest = hashlib.sha256()
        expected_size = meta.get("size")
        if not isinstance(expected_size, int) or by_name[member_name].size != expected_size:
            raise BackupError(f"Archive refusée : la taille de {member_name} ne correspond pas au manifeste.")
        try:
            source = tar.extractfile(by_name[member_name])
            with open(target, "wb") as out:
                for chunk in iter(lambda: source.read(CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            raise BackupError(f"Archive corrompue : {exc}") from None
        if not hmac.compare_digest(digest.hexdigest(), str(meta.get("sha256", ""))):
            raise BackupError(f"Archive refusée : l'empreinte SHA-256 de {member_name} ne correspond pas "
                              "au manifeste (fichier altéré ou corrompu).")
    return manifest, target


def check_keyring_against_manifest(app: Flask, manifest: dict) -> None:
    keyring = app.config.get("MASTER_KEYS") or {"keys": {}}
    absent = [k for k in manifest.get("master_keys", {}) if k not in keyring["keys"]]
    wrong = [k for k, kcv in manifest.get("master_keys", {}).items()
             if k in keyring["keys"] and not hmac.compare_digest(key_check_value(keyring["keys"][k]), str(kcv))]
    if absent or wrong:
        parts = []
        if absent:
            parts.append("clé(s) absente(s) du trousseau configuré : " + ", ".join(absent))
        if wrong:
            parts.append("clé(s) différente(s) de celles de la sauvegarde : " + ", ".join(wrong))
        raise BackupError("Le trousseau ESP_COORD_MASTER_KEYS ne correspond pas à la sauvegarde ("
                          + " ; ".join(parts) + "). Restauration annulée, la base cible n'a pas été modifiée.")


def _target_has_data(conn: sa.Connection) -> bool:
    inspector = sa.inspect(conn)
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        if conn.execute(sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)).first():
            return True
    return False


def restore_backup(app: Flask, archive: Path, *, force: bool = False) -> RestoreReport:
    from esp_coord.core.extensions import db

    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"Archive introuvable : {archive}")
    url = db.engine.url
    engine = engine_name(url)
    with tempfile.TemporaryDirectory(prefix="esp-restore-") as tmp:
        os.chmod(tmp, 0o700)
        manifest, dump = read_archive(archive, Path(tmp))
        if manifest.get("engine") != engine:
            raise BackupError(f"Sauvegarde {manifest.get('engine')} : impossible de la restaurer dans une base "
                              f"{engine}.")
        check_keyring_against_manifest(app, manifest)
        db.session.remove()
        if engine == "sqlite":
            target = _sqlite_path(url)
            if target.exists() and target.stat().st_size > 0:
                with db.engine.connect() as conn:
                    non_empty = _target_has_data(conn)
                if non_empty and not force:
                    raise BackupError(f"La base cible {target} contient des données : relancez avec --force "
                                      "pour la remplacer.")
            db.engine.dispose()
            _sqlite_replace(dump, target)
        else:
            with db.engine.connect() as conn:
                non_empty = _target_has_data(conn)
                server_major = _server_major(conn)
            if non_empty and not force:
                raise BackupError("La base cible contient des données : relancez avec --force pour la remplacer.")
            db.engine.dispose()
            env, args, dbname = _pg_env_and_args(url)
            _run_tool([pg_tool(app, "pg_restore", server_major), "--clean", "--if-exists", "--no-owner",
                       "--no-privileges", "--single-transaction", "--exit-on-error", "--no-password", *args,
                       "--dbname", dbname, str(dump)], env, "pg_restore")
    db.engine.dispose()
    report = RestoreReport(engine=engine, manifest=manifest)
    check_restored_data(report)
    return report


def _sqlite_replace(dump: Path, target: Path) -> None:
    conn = sqlite3.connect(dump)
    try:
        status = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    if status != "ok":
        raise BackupError(f"Copie SQLite de l'archive endommagée : {status}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(target.name + ".restoring")
    shutil.copyfile(dump, staged)
    os.chmod(staged, 0o600)
    with open(staged, "rb") as fh:
        os.fsync(fh.fileno())
    # A WAL/SHM left by the previous database would be replayed over the restored file: remove them.
    for suffix in ("-wal", "-shm", "-journal"):
        stale = target.with_name(target.name + suffix)
        if stale.exists():
            stale.unlink()
    os.replace(staged, target)


def check_restored_data(report: RestoreReport) -> RestoreReport:
    """Decrypt every data key and every patient identity with the configured keyring; verify the audit chain."""
    from esp_coord.core import keys
    from esp_coord.core.audit import verify_chain
    from esp_coord.core.extensions import db
    from esp_coord.patients.access import FIELDS
    from esp_coord.patients.crypto_service import UnreadableData, _key_aad, decrypt_text
    from esp_coord.patients.key_store import PatientKey
    from esp_coord.patients.models import Patient

    session = db.session
    for row in session.execute(sa.select(PatientKey)).scalars():
        report.data_keys += 1
        try:
            crypto.unwrap_key(keys.kek(row.master_key_id), row.wrapped_dek, _key_aad(row.patient_id, row.version))
        except UnreadableData:
            report.data_keys_unreadable += 1
    for patient in session.execute(sa.select(Patient)).scalars():
        report.patients += 1
        if patient.erased_at is not None:
            report.erased += 1
            continue
        try:
            for name in FIELDS:
                decrypt_text(patient.id, "patient", name, patient.id, getattr(patient, f"{name}_enc"))
        except UnreadableData:
            report.unreadable += 1
        else:
            report.readable += 1
    result = verify_chain()
    report.audit_ok, report.audit_checked = result.ok, result.checked
    if not result.ok:
        report.problems.append(f"journal d'audit : ligne {result.first_bad_seq} — {result.reason}")
    session.rollback()
    return report


# ---------------------------------------------------------------- commands


@click.command("backup")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--keys-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Écrire aussi le trousseau de clés maîtresses dans ce fichier séparé (0600), "
                   "à conserver AILLEURS que les archives.")
@with_appcontext
def backup_command(output: Path, keys_out: Path | None) -> None:
    """Sauvegarde cohérente de la base (archive tar.gz + manifeste, sans clé maîtresse)."""
    try:
        manifest = create_backup(current_app, output, keys_out)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    counts = manifest["counts"]
    click.echo(f"Sauvegarde écrite : {output} ({manifest['engine']}, révision {manifest['alembic_revision'] or '—'}, "
               f"{counts.get('patient') or 0} patients, {counts.get('audit_event') or 0} lignes d'audit).")
    click.echo("L'archive ne contient aucune clé maîtresse : sans le trousseau ESP_COORD_MASTER_KEYS, "
               "les données patients y restent chiffrées.")
    if manifest["master_keys_missing"]:
        click.echo("ATTENTION : des clés de données sont enveloppées par des clés absentes du trousseau "
                   "configuré : " + ", ".join(manifest["master_keys_missing"]), err=True)
    if keys_out is not None:
        click.echo(f"Trousseau écrit séparément : {keys_out} (0600). Rangez-le ailleurs que les archives "
                   "(coffre hors ligne) et supprimez cette copie du serveur.")


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Remplacer une base cible qui contient déjà des données.")
@with_appcontext
def restore_command(archive: Path, force: bool) -> None:
    """Restaurer une archive de `esp-coord backup` dans la base configurée (application arrêtée)."""
    try:
        report = restore_backup(current_app, archive, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    m = report.manifest
    click.echo(f"Archive vérifiée (SHA-256) et restaurée : sauvegarde du {m.get('created_at')}, "
               f"version {m.get('app_version')}, révision {m.get('alembic_revision') or '—'}.")
    click.echo(f"Clés de données : {report.data_keys - report.data_keys_unreadable}/{report.data_keys} lisibles.")
    click.echo(f"Patients : {report.patients} ({report.readable} identités déchiffrées, "
               f"{report.unreadable} illisibles, {report.erased} effacés).")
    click.echo(f"Journal d'audit : {report.audit_checked} lignes, chaîne "
               f"{'intacte' if report.audit_ok else 'ALTÉRÉE'}.")
    for problem in report.problems:
        click.echo(f"PROBLÈME : {problem}", err=True)
    if not report.ok:
        click.echo("ÉCHEC : le trousseau configuré ne déchiffre pas toutes les données restaurées "
                   "(mauvais ESP_COORD_MASTER_KEYS ?) ou le journal est altéré.", err=True)
        sys.exit(2)
    click.echo("OK : toutes les identités patients se déchiffrent avec le trousseau configuré.")
