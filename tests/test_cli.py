"""The `esp-coord` command as an operator meets it: subprocesses of the real entry point.

- a command that cannot start prints ONE French line naming the setting and what to do, never a traceback;
- every `esp-coord <command>` named in README.md and docs/operations.md exists (`--help` exits 0);
- the README's commands that can run in a test run as written against a development instance.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ESP_COORD = str(BIN / "esp-coord")
DOCS = [ROOT / "README.md", ROOT / "docs" / "operations.md", ROOT / "config" / "README.md"]


def _env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESP_COORD_") and k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(ROOT)  # this checkout, not whatever the shared venv points at
    env["ESP_COORD_HUEY_FILENAME"] = str(tmp_path / "huey.db")
    env.update(extra)
    return env


def _run(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ESP_COORD, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def _assert_one_french_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("args", [["audit", "verify"], ["db", "upgrade"], ["users", "disable", "x@example.org"],
                                  ["keys", "status"], ["worker"], ["backup", "out.tar.gz"]])
def test_missing_secret_is_one_french_line(tmp_path, args):
    env = _env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'esp.db'}")  # production by default
    result = _run(args, env, tmp_path)
    _assert_one_french_line(result, "ESP_COORD_SECRET_KEY manquant", "ESP_COORD_ENV=development",
                            "config/README.md")


def test_weak_master_keys_is_one_french_line(tmp_path):
    env = _env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'esp.db'}", ESP_COORD_SECRET_KEY="s" * 8 + "q" * 40,
               ESP_COORD_MASTER_KEYS="not json")
    result = _run(["audit", "verify"], env, tmp_path)
    _assert_one_french_line(result, "ESP_COORD_")


def test_unmigrated_database_says_db_upgrade(tmp_path):
    env = _env(tmp_path, ESP_COORD_ENV="development", DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    result = _run(["audit", "verify"], env, tmp_path)
    _assert_one_french_line(result, "non migrée", "esp-coord db upgrade")


def test_unreachable_database_is_one_french_line(tmp_path):
    env = _env(tmp_path, ESP_COORD_ENV="development",
               DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/nothing?connect_timeout=2")
    result = _run(["audit", "verify"], env, tmp_path)
    _assert_one_french_line(result, "DATABASE_URL")


def test_commands_without_configuration_work_in_production(tmp_path):
    env = _env(tmp_path)
    listing = _run(["--help"], env, tmp_path)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    assert "keys" in listing.stdout and "backup" in listing.stdout
    assert len(listing.stderr.strip().splitlines()) == 1 and "ESP_COORD_SECRET_KEY" in listing.stderr
    generated = _run(["keys", "generate"], env, tmp_path)
    assert generated.returncode == 0 and generated.stdout.count("ESP_COORD_") == 3, generated.stderr


def _documented_commands() -> set[tuple[str, ...]]:
    """(`command`, `sub-command`) pairs of every `esp-coord …` mentioned in the operator documents."""
    found = set()
    for doc in DOCS:
        for match in re.finditer(r"esp-coord((?: [a-z][a-z-]*)+)", doc.read_text(encoding="utf-8")):
            words = match.group(1).split()[:2]
            if not words[0].startswith("esp-coord"):  # "systemctl restart esp-coord esp-coord-worker": unit names
                found.add(tuple(words))
    return found


def test_every_documented_command_exists(tmp_path):
    # `db` comes from Flask-Migrate through the app: a development configuration lets the app load
    env = _env(tmp_path, ESP_COORD_ENV="development", DATABASE_URL=f"sqlite:///{tmp_path / 'dev.db'}")
    documented = _documented_commands()
    assert {("demo-totp",), ("keys", "generate"), ("audit", "verify"), ("backup",)} <= {
        w[:1] if w[0] in ("demo-totp", "backup") else w for w in documented}
    checked = set()
    for words in sorted(documented):
        # keep the real command path: a first word that is not a group ends the path
        first = _run([words[0], "--help"], env, tmp_path)
        assert first.returncode == 0, f"esp-coord {words[0]} is documented but does not exist: {first.stderr}"
        path = words[:1]
        if len(words) > 1 and "Commands:" in first.stdout:
            path = words
            sub = _run([*path, "--help"], env, tmp_path)
            assert sub.returncode == 0, f"esp-coord {' '.join(path)} is documented but does not exist: {sub.stderr}"
        checked.add(path)
    assert len(checked) >= 15


def _readme_dev_commands() -> list[str]:
    """`.venv/bin/esp-coord …` commands of README.md (code blocks and inline code), as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [line.split("  #")[0].strip() for block in re.findall(r"```(?:sh|bash|shell)?\n(.*?)```", text, re.S)
             for line in block.splitlines()]
    lines += re.findall(r"`([^`\n]*\.venv/bin/esp-coord [^`\n]+)`", text)
    return list(dict.fromkeys(line for line in lines if re.match(r"^([A-Z_]+=\S+ )*\.venv/bin/esp-coord ", line)))


NOT_IN_A_TEST = ("run", "worker")  # long-running servers


def test_readme_commands_run_as_written(tmp_path):
    """The README's `.venv/bin/esp-coord …` commands, as written, against a development instance (what
    `make run` leaves: migrated database with the demo), here in a throwaway SQLite database."""
    commands = _readme_dev_commands()
    assert any("demo-totp" in c for c in commands) and any("audit verify" in c for c in commands), commands
    env = _env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'dev.db'}")
    for args in (["db", "upgrade"], ["demo", "--if-empty"]):  # what `make run` does first
        result = _run(args, env | {"ESP_COORD_ENV": "development"}, tmp_path)
        assert result.returncode == 0, result.stderr
    ran = 0
    for command in commands:
        words = shlex.split(command.replace("<e-mail>", "claire.martin@demo.esp-coord.fr"))
        assignments = dict(w.split("=", 1) for w in words if re.fullmatch(r"[A-Z_]+=.*", w))
        argv = [w for w in words if not re.fullmatch(r"[A-Z_]+=.*", w)]
        if argv[1] in NOT_IN_A_TEST:
            continue
        result = subprocess.run([ESP_COORD, *argv[1:]], env=env | assignments, cwd=tmp_path, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, f"README command {command!r} failed: {result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr
        ran += 1
    assert ran >= 3
