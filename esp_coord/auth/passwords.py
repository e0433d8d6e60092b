"""Argon2id password hashing (argon2-cffi) and the password policy (length, common passwords)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

MAX_LENGTH = 256
COMMON_FILE = Path(__file__).resolve().parent / "data" / "common_passwords.txt"


def hasher() -> PasswordHasher:
    cfg = current_app.config
    key = (cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"], cfg["ARGON2_PARALLELISM"])
    cache = current_app.extensions.setdefault("esp_argon2", {})
    if key not in cache:
        cache[key] = PasswordHasher(time_cost=key[0], memory_cost=key[1], parallelism=key[2])
    return cache[key]


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash or not password or len(password) > MAX_LENGTH:
        # still spend comparable time to avoid revealing which accounts exist
        _dummy_verify(password or "")
        return False
    try:
        return hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return hasher().check_needs_rehash(stored_hash)


def _dummy_verify(password: str) -> None:
    cache = current_app.extensions.setdefault("esp_argon2_dummy", {})
    if "hash" not in cache:
        cache["hash"] = hasher().hash("dummy-password-for-timing")
    try:
        hasher().verify(cache["hash"], password[:MAX_LENGTH] or "x")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        pass


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    if not COMMON_FILE.exists():
        return frozenset()
    return frozenset(line.strip().lower() for line in COMMON_FILE.read_text(encoding="utf-8").splitlines()
                     if line.strip())


def password_problems(password: str, *, email: str = "", names: tuple[str, ...] = ()) -> list[str]:
    """French messages explaining why a password is refused (empty list = accepted)."""
    problems = []
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        problems.append(f"Le mot de passe doit contenir au moins {minimum} caractères.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Le mot de passe ne peut pas dépasser {MAX_LENGTH} caractères.")
    lowered = password.lower()
    if lowered in common_passwords() or len(set(password)) < 4:
        problems.append("Ce mot de passe est trop courant ou trop prévisible : choisissez-en un autre.")
    local = email.split("@")[0].lower() if email else ""
    if local and len(local) >= 4 and local in lowered:
        problems.append("Le mot de passe ne doit pas contenir votre adresse e-mail.")
    for name in names:
        if name and len(name) >= 4 and name.lower() in lowered and len(password) < 20:
            problems.append("Le mot de passe ne doit pas reposer sur votre nom.")
            break
    return problems
