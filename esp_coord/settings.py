"""Typed settings: config/default.py + config/<env>.py + ESP_COORD_* environment variables.

Secrets are validated here; outside development/testing a weak or missing secret stops start-up
with a one-line message naming the setting.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import runpy
import secrets
from pathlib import Path
from typing import Any

from esp_coord.resources import ConfigurationError, resource_path

ENVIRONMENTS = ("development", "testing", "production")

# Values published in docs/examples: refused everywhere but tests.
KNOWN_EXAMPLE_SECRETS = {
    "dev",
    "secret",
    "changeme",
    "change-me",
    "change-me-please-change-me-please",
    "your-secret-key",
    "example-secret-key-do-not-use-in-production",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
}
MIN_SECRET_LENGTH = 32


def _read_env_secret(name: str) -> str | None:
    value = os.environ.get(f"ESP_COORD_{name}")
    path = os.environ.get(f"ESP_COORD_{name}_FILE")
    if value is None and path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"ESP_COORD_{name}_FILE illisible / unreadable: {exc.strerror}"
            ) from None
    return value


def _coerce(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def load_settings(env: str | None = None, overrides: dict | None = None, instance_path: Path | None = None) -> dict:
    env = env or os.environ.get("ESP_COORD_ENV") or "production"
    if env not in ENVIRONMENTS:
        raise ConfigurationError(f"ESP_COORD_ENV inconnu / unknown: {env!r} (attendu / expected: {ENVIRONMENTS})")
    settings: dict[str, Any] = {}
    config_dir = resource_path("config")
    default = config_dir / "default.py"
    if not default.is_file():
        raise ConfigurationError(f"Configuration par défaut introuvable ({default}) : installation incomplète, "
                                 "réinstallez le paquet esp_coord")
    for path in (default, config_dir / f"{env}.py"):
        if path.is_file():  # config/<env>.py is optional (production usually has none: environment only)
            settings.update({k: v for k, v in runpy.run_path(str(path)).items() if k.isupper()})
    for key, value in os.environ.items():
        if key.startswith("ESP_COORD_") and not key.endswith("_FILE"):
            name = key[len("ESP_COORD_"):]
            if name in ("ENV",):
                continue
            settings[name] = _coerce(value) if name not in ("SECRET_KEY", "INDEX_KEY") else value
    for secret_name in ("SECRET_KEY", "MASTER_KEYS", "INDEX_KEY"):
        value = _read_env_secret(secret_name)
        if value is not None:
            settings[secret_name] = value
    if os.environ.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    if overrides:
        settings.update(overrides)
    settings["ENV"] = env
    if env == "development" and instance_path is not None:
        _fill_development_secrets(settings, instance_path)
    settings["MASTER_KEYS"] = parse_keyring(settings.get("MASTER_KEYS"), strict=env != "testing")
    validate_secrets(settings)
    return settings


def _dev_secret_file(instance_path: Path, name: str, factory) -> str:
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(factory())
    return path.read_text(encoding="utf-8").strip()


def new_keyring_json(key_id: str = "k1") -> str:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    return json.dumps({"current": key_id, "keys": {key_id: key}})


def _fill_development_secrets(settings: dict, instance_path: Path) -> None:
    """Development only: generate secrets into the instance folder (mode 0600)."""
    if not settings.get("SECRET_KEY"):
        settings["SECRET_KEY"] = _dev_secret_file(instance_path, "secret_key", lambda: secrets.token_urlsafe(48))
    if not settings.get("MASTER_KEYS"):
        settings["MASTER_KEYS"] = _dev_secret_file(instance_path, "master_keys.json", new_keyring_json)
    if not settings.get("INDEX_KEY"):
        settings["INDEX_KEY"] = _dev_secret_file(instance_path, "index_key", lambda: secrets.token_urlsafe(48))


def parse_keyring(raw: Any, strict: bool = True) -> dict | None:
    """Parse {"current": id, "keys": {id: base64}} into {"current": id, "keys": {id: bytes}}."""
    if raw in (None, ""):
        return None
    data = raw
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except ValueError:
            raise ConfigurationError("ESP_COORD_MASTER_KEYS n'est pas un JSON valide / is not valid JSON") from None
    if not isinstance(data, dict) or "keys" not in data or "current" not in data:
        raise ConfigurationError('ESP_COORD_MASTER_KEYS doit être / must be {"current": id, "keys": {id: base64}}')
    keys: dict[str, bytes] = {}
    for key_id, value in data["keys"].items():
        if isinstance(value, bytes):
            keys[key_id] = value
            continue
        try:
            keys[key_id] = base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError):
            raise ConfigurationError(f"ESP_COORD_MASTER_KEYS: clé / key {key_id!r} n'est pas du base64") from None
    if data["current"] not in keys:
        raise ConfigurationError("ESP_COORD_MASTER_KEYS: la clé courante est absente / current key missing")
    return {"current": data["current"], "keys": keys, "raw_values": set(data["keys"].values()) if strict else set()}


def validate_secrets(settings: dict) -> None:
    env = settings["ENV"]
    if env == "testing":
        return
    secret = settings.get("SECRET_KEY")
    _check_secret("ESP_COORD_SECRET_KEY", secret)
    _check_secret("ESP_COORD_INDEX_KEY", settings.get("INDEX_KEY"))
    if settings.get("INDEX_KEY") == secret:
        raise ConfigurationError(
            "ESP_COORD_INDEX_KEY doit différer de la clé secrète / must differ from ESP_COORD_SECRET_KEY"
        )
    keyring = settings.get("MASTER_KEYS")
    if not keyring:
        raise ConfigurationError(
            "ESP_COORD_MASTER_KEYS manquant : l'application refuse de démarrer / missing: refusing to start"
        )
    for key_id, key in keyring["keys"].items():
        if len(key) != 32:
            raise ConfigurationError(
                f"ESP_COORD_MASTER_KEYS: la clé {key_id!r} doit faire 32 octets / key must be 32 bytes"
            )
        if len(set(key)) < 8:
            raise ConfigurationError(
                f"ESP_COORD_MASTER_KEYS: la clé {key_id!r} est trop faible / key is too weak"
            )
    if keyring["raw_values"] & KNOWN_EXAMPLE_SECRETS:
        raise ConfigurationError("ESP_COORD_MASTER_KEYS est une valeur d'exemple / is an example value")


def _check_secret(name: str, value: Any) -> None:
    if not value:
        raise ConfigurationError(f"{name} manquant : l'application refuse de démarrer / missing: refusing to start")
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"{name} trop court (minimum {MIN_SECRET_LENGTH} caractères) / too short (min {MIN_SECRET_LENGTH})"
        )
    if value in KNOWN_EXAMPLE_SECRETS or len(set(value)) < 10:
        raise ConfigurationError(f"{name} est une valeur d'exemple ou trop faible / is an example or weak value")
