"""Backup archives: no master key inside, integrity checked before anything is restored.

ASVS 5.0 V14 (data protection: backups), V11 (key management: keys stored apart from data).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile

import pytest

from tests.conftest import TEST_MASTER_KEYS
from tests.reliability.helpers import ENGINES, context, dispose, isolated_app, new_database_url, populate


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


def _make_archive(request, tmp_path, engine):
    src = isolated_app(new_database_url(request, tmp_path, engine, "source"))
    with context(src):
        populate(src)
    archive = tmp_path / "sauvegarde.tar.gz"
    result = src.test_cli_runner().invoke(args=["backup", str(archive)])
    assert result.exit_code == 0, result.output
    dispose(src)
    return archive


def test_archive_holds_no_master_key_material(request, tmp_path, engine):
    archive = _make_archive(request, tmp_path, engine)
    raw = archive.read_bytes()
    plain = gzip.decompress(raw)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        members = b"".join(tar.extractfile(m).read() for m in tar.getmembers())
    assert sorted(names) == sorted(["manifest.json", "database.sqlite3" if engine == "sqlite" else "database.pgdump"])
    for key_b64 in json.loads(TEST_MASTER_KEYS)["keys"].values():
        key = base64.b64decode(key_b64)
        for needle in (key_b64.encode(), key_b64.rstrip("=").encode(), key, key.hex().encode(),
                       base64.urlsafe_b64encode(key)):
            for haystack in (raw, plain, members):
                assert needle not in haystack
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert set(manifest["master_keys"]) == {"t1"} and len(manifest["master_keys"]["t1"]) == 16
    assert manifest["engine"] == ("sqlite" if engine == "sqlite" else "postgresql")


def _rewrite(archive, out, mutate):
    """Copy the archive member by member, letting `mutate(name, data)` change contents (manifest kept)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            for name, new in mutate(member.name, data):
                info = tarfile.TarInfo(name)
                info.size = len(new)
                dst.addfile(info, io.BytesIO(new))


def _flip_dump(name, data):
    if name.startswith("database."):
        pos = len(data) // 2
        data = data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1:]
    yield name, data


def _grow_dump(name, data):
    yield name, (data + b"\0" * 4096 if name.startswith("database.") else data)


def _extra_member(name, data):
    yield name, data
    if name == "manifest.json":
        yield "keyring.json", b"{}"


def _traversal(name, data):
    yield ("../" + name if name.startswith("database.") else name), data


@pytest.mark.parametrize("mutate, message", [
    (_flip_dump, "SHA-256"),
    (_grow_dump, "taille"),
    (_extra_member, "ne correspond pas au manifeste"),
    (_traversal, "membre inattendu"),
])
def test_tampered_archive_is_refused(request, tmp_path, mutate, message):
    archive = _make_archive(request, tmp_path, "sqlite")
    tampered = tmp_path / "altere.tar.gz"
    _rewrite(archive, tampered, mutate)
    target = tmp_path / "cible.db"
    dst = isolated_app(f"sqlite:///{target}", create_schema=False)
    result = dst.test_cli_runner().invoke(args=["restore", str(tampered)])
    assert result.exit_code != 0
    assert "Archive refusée" in result.output and message in result.output
    dispose(dst)
    assert not target.exists() or target.stat().st_size == 0


def test_corrupted_bytes_are_refused(request, tmp_path):
    archive = _make_archive(request, tmp_path, "sqlite")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    broken = tmp_path / "casse.tar.gz"
    broken.write_bytes(bytes(data))
    dst = isolated_app(f"sqlite:///{tmp_path / 'cible.db'}", create_schema=False)
    result = dst.test_cli_runner().invoke(args=["restore", str(broken)])
    assert result.exit_code != 0
    assert "Archive" in result.output
    dispose(dst)


def test_backup_refuses_to_overwrite_and_to_put_keys_in_the_archive(request, tmp_path):
    archive = _make_archive(request, tmp_path, "sqlite")
    src = isolated_app(f"sqlite:///{tmp_path / 'source.db'}", create_schema=False)
    again = src.test_cli_runner().invoke(args=["backup", str(archive)])
    assert again.exit_code != 0 and "refus de l'écraser" in again.output
    other = tmp_path / "b.tar.gz"
    same = src.test_cli_runner().invoke(args=["backup", str(other), "--keys-out", str(other)])
    assert same.exit_code != 0 and not other.exists()
    dispose(src)
