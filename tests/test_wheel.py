"""The wheel is the product: build it, install it in a fresh virtualenv, migrate and serve from there.

Nothing of the checkout may leak in: the commands run from a temporary directory, without PYTHONPATH,
with the fresh venv's own interpreter and scripts. Dependencies come from the package index through pip's
cache (the first run downloads them; later runs take about a minute on 2 cores).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("ESP_TEST_ENGINE") == "postgres",
                       reason="engine-independent: runs once, in the SQLite pass of make test"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra: str) -> dict:
    """The caller's environment minus anything pointing back at the checkout or its configuration."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ESP_COORD_", "PYTHON", "VIRTUAL_ENV", "DATABASE_URL", "PIP_"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(ROOT)) and ".venv" not in p)
    env.update(extra)
    return env


def _run(cmd: list, cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def _get(url: str) -> tuple[int, dict, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local test server
        return response.status, dict(response.headers), response.read()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin dir, work dir): the wheel built from the checkout, installed alone in a new venv."""
    base = tmp_path_factory.mktemp("wheel")
    work = base / "work"
    work.mkdir()
    env = _clean_env()
    # pip builds in an isolated environment (hatchling + Babel from the index): the .mo come from the hook
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(base / "dist"), str(ROOT)],
         cwd=work, env=env)
    wheels = list((base / "dist").glob("esp_coord-*.whl"))
    assert len(wheels) == 1, wheels
    venv.EnvBuilder(with_pip=True, clear=True).create(base / "venv")
    bin_dir = base / "venv" / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          str(wheels[0])], cwd=work, env=env, timeout=900)
    return bin_dir, work


def test_wheel_contains_resources_and_catalogs(installed):
    bin_dir, work = installed
    probe = ("import json, esp_coord, esp_coord.resources as r;"
             "print(json.dumps({'pkg': esp_coord.__file__, **{n: str(r.resource_path(n)) for n in r.RESOURCES}}))")
    paths = json.loads(_run([str(bin_dir / "python"), "-c", probe], cwd=work, env=_clean_env()).stdout)
    venv_dir = str(bin_dir.parent)
    for name, path in paths.items():
        assert path.startswith(venv_dir), f"{name} comes from {path}, not from the installed wheel"
    package = Path(paths["pkg"]).parent
    catalogs = sorted(package.glob("**/translations/fr/LC_MESSAGES/messages.mo"))
    assert len(catalogs) == len(sorted(package.glob("**/translations/fr/LC_MESSAGES/messages.po"))) > 5
    assert (Path(paths["config"]) / "default.py").is_file()
    assert list((Path(paths["migrations"]) / "versions").glob("*.py"))
    probe = "import esp_coord.resources as r; print(r.default_instance_path())"
    instance = _run([str(bin_dir / "python"), "-c", probe], cwd=work, env=_clean_env()).stdout.strip()
    assert instance == str(bin_dir.parent / "var" / "esp_coord-instance")  # Flask's own default, not the package


def test_installed_wheel_migrates_and_serves_french(installed):
    bin_dir, work = installed
    keys = _run([str(bin_dir / "esp-coord"), "keys", "generate"], cwd=work, env=_clean_env()).stdout
    secrets = dict(line.split("=", 1) for line in keys.splitlines() if line.startswith("ESP_COORD_"))
    secrets = {k: v.strip("'") for k, v in secrets.items()}
    assert set(secrets) == {"ESP_COORD_SECRET_KEY", "ESP_COORD_INDEX_KEY", "ESP_COORD_MASTER_KEYS"}
    env = _clean_env(ESP_COORD_ENV="production", DATABASE_URL=f"sqlite:///{work / 'esp.db'}", **secrets)
    upgrade = _run([str(bin_dir / "esp-coord"), "db", "upgrade"], cwd=work, env=env)
    assert "Traceback" not in upgrade.stderr
    assert (bin_dir.parent / "var" / "esp_coord-instance" / "huey.db").exists()  # job queue beside the venv
    port = _free_port()
    log = (work / "gunicorn.log").open("w")
    server = subprocess.Popen([str(bin_dir / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}",
                               "esp_coord:create_app()"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, headers, body = _get(f"{base_url}/connexion")
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start:\n" + (work / "gunicorn.log").read_text())
                time.sleep(0.3)
        page = body.decode("utf-8")
        assert status == 200
        assert "Connexion" in page and "Mot de passe" in page, page[:2000]
        assert '<html lang="fr"' in page
        stylesheets = re.findall(r'href="(/static/[^"]+\.css[^"]*)"', page)
        assert stylesheets, page[:2000]
        status, headers, css = _get(base_url + stylesheets[0])
        assert status == 200 and headers["Content-Type"].startswith("text/css") and css.strip()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
