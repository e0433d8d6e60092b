"""Access to the configured keyring and purpose keys (per app, cached on the app object)."""

from __future__ import annotations

from flask import current_app

from esp_coord.core import crypto


def keyring() -> dict:
    ring = current_app.config.get("MASTER_KEYS")
    if not ring:
        raise RuntimeError("no master keyring configured")
    return ring


def current_master_id() -> str:
    return keyring()["current"]


def kek(master_key_id: str) -> bytes:
    cache = current_app.extensions.setdefault("esp_coord_keks", {})
    if master_key_id not in cache:
        try:
            master = keyring()["keys"][master_key_id]
        except KeyError:
            raise crypto.UnreadableData(f"master key {master_key_id} not available") from None
        cache[master_key_id] = crypto.hkdf(master, crypto.KEK_INFO)
    return cache[master_key_id]


def purpose_key(info: bytes) -> bytes:
    cache = current_app.extensions.setdefault("esp_coord_purpose_keys", {})
    if info not in cache:
        cache[info] = crypto.hkdf(current_app.config["INDEX_KEY"].encode(), info)
    return cache[info]


def blind_index(value: str) -> bytes:
    return crypto.keyed_hash(purpose_key(crypto.BLIND_INDEX_INFO), value)


def token_hash(token: str) -> str:
    """SHA-256 of a random token (feed tokens, invitations, sessions): no slow hash needed for 256-bit tokens."""
    return crypto.sha256_hex(token)


def app_secret_encrypt(plaintext: str, aad: str) -> bytes:
    """Encrypt an application secret (e.g. a TOTP seed) under a key derived from INDEX_KEY."""
    return crypto.encrypt(purpose_key(crypto.APP_SECRET_INFO), 0, plaintext.encode(), aad.encode())


def app_secret_decrypt(blob: bytes, aad: str) -> str:
    return crypto.decrypt(purpose_key(crypto.APP_SECRET_INFO), blob, aad.encode()).decode()
