"""TOTP (pyotp), mandatory for every account; replays of a used time step are refused."""

from __future__ import annotations

import secrets
import time

import pyotp
from flask import current_app

from esp_coord.auth.models import User
from esp_coord.auth.passwords import hash_password, verify_password
from esp_coord.core.keys import app_secret_decrypt, app_secret_encrypt

RECOVERY_CODE_COUNT = 10


def _aad(user: User) -> str:
    return f"user_account.totp:{user.id}:v1"


def new_secret() -> str:
    return pyotp.random_base32()


def set_secret(user: User, secret: str) -> None:
    user.totp_secret_enc = app_secret_encrypt(secret, _aad(user))


def get_secret(user: User) -> str | None:
    if not user.totp_secret_enc:
        return None
    return app_secret_decrypt(user.totp_secret_enc, _aad(user))


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=current_app.config["TOTP_ISSUER"])


def verify_code(user: User, code: str, secret: str | None = None) -> bool:
    """Check a 6-digit code; refuse a time step already used (replay) and record the accepted step."""
    secret = secret or get_secret(user)
    code = (code or "").strip().replace(" ", "")
    if not secret or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(secret)
    window = int(current_app.config.get("TOTP_VALID_WINDOW", 1))
    now_step = int(time.time() // totp.interval)
    for step in range(now_step - window, now_step + window + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False


def new_recovery_codes() -> list[str]:
    return [f"{secrets.randbelow(10**5):05d}-{secrets.randbelow(10**5):05d}" for _ in range(RECOVERY_CODE_COUNT)]


def hash_recovery_code(code: str) -> str:
    return hash_password(code.replace("-", "").strip())


def check_recovery_code(stored_hash: str, code: str) -> bool:
    return verify_password(stored_hash, code.replace("-", "").replace(" ", "").strip())


def _pending_aad(user: User) -> str:
    return f"user_account.totp_pending:{user.id}:v1"


def pending_secret(user: User, create: bool = True) -> str | None:
    """The secret being enrolled; created (and stored encrypted) on first use so the QR code stays stable."""
    if user.totp_pending_enc:
        return app_secret_decrypt(user.totp_pending_enc, _pending_aad(user))
    if not create:
        return None
    secret = new_secret()
    user.totp_pending_enc = app_secret_encrypt(secret, _pending_aad(user))
    return secret


def confirm_pending(user: User, code: str) -> bool:
    """Check a code against the pending secret; on success it becomes the account's TOTP secret."""
    from esp_coord.core.time import utc_now

    secret = pending_secret(user, create=False)
    if not secret:
        return False
    user.totp_last_step = None
    if not verify_code(user, code, secret=secret):
        return False
    set_secret(user, secret)
    user.totp_pending_enc = None
    user.totp_enabled_at = utc_now()
    return True


def looks_like_recovery_code(code: str) -> bool:
    cleaned = (code or "").replace("-", "").replace(" ", "").strip()
    return len(cleaned) == 10 and cleaned.isdigit()
