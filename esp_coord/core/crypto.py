"""AES-256-GCM envelope encryption primitives (no database access here).

Stored blob: format_version (1 B) | dek_version (2 B, big endian) | nonce (12 B) | ciphertext + tag.
AAD: "{table}.{column}:{row_id}:{patient_id}:v1" so a ciphertext moved to another row, column or
patient does not decrypt. Keys: master keys (settings keyring) -> HKDF KEK per master key ->
wraps each per-patient data key (DEK). The blind-index/feed/pseudonym keys derive from INDEX_KEY.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import unicodedata
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION = 1
HEADER = struct.Struct(">BH")
NONCE_LEN = 12
KEK_INFO = b"esp-coord/kek/v1"
BLIND_INDEX_INFO = b"esp-coord/blind-index/v1"
PSEUDONYM_INFO = b"esp-coord/report-pseudonym/v1"
APP_SECRET_INFO = b"esp-coord/app-secrets/v1"


class UnreadableData(Exception):
    """A ciphertext that cannot be decrypted (damaged, moved, or its key destroyed)."""


def hkdf(key_material: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key_material)


def aad_for(table: str, column: str, row_id, patient_id) -> bytes:
    return f"{table}.{column}:{row_id}:{patient_id}:v1".encode()


def encrypt(key: bytes | AESGCM, dek_version: int, plaintext: bytes, aad: bytes) -> bytes:
    """`key` may be a ready AESGCM object (built once per data key and request: saves the key schedule)."""
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    nonce = os.urandom(NONCE_LEN)
    return HEADER.pack(FORMAT_VERSION, dek_version) + nonce + aead.encrypt(nonce, plaintext, aad)


def blob_dek_version(blob: bytes) -> int:
    if not blob or len(blob) < HEADER.size + NONCE_LEN + 16:
        raise UnreadableData("blob too short")
    fmt, version = HEADER.unpack_from(blob)
    if fmt != FORMAT_VERSION:
        raise UnreadableData("unknown format")
    return version


def decrypt(key: bytes | AESGCM, blob: bytes, aad: bytes) -> bytes:
    blob_dek_version(blob)
    nonce = blob[HEADER.size:HEADER.size + NONCE_LEN]
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    try:
        return aead.decrypt(nonce, blob[HEADER.size + NONCE_LEN:], aad)
    except InvalidTag:
        raise UnreadableData("authentication failed") from None


def wrap_key(kek: bytes, dek: bytes, aad: bytes) -> bytes:
    """Wrap a data key under a KEK with AES-GCM (AAD binds it to its patient and version)."""
    return encrypt(kek, 0, dek, aad)


def unwrap_key(kek: bytes, wrapped: bytes, aad: bytes) -> bytes:
    return decrypt(kek, wrapped, aad)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def normalise_name(value: str) -> str:
    """Case- and accent-insensitive form used for search: 'Élodie-Marie ' -> 'elodie marie'."""
    text = unicodedata.normalize("NFKD", value or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = "".join(c if c.isalnum() else " " for c in text)
    return " ".join(text.split())


def keyed_hash(key: bytes, value: str, length: int = 16) -> bytes:
    return hmac.new(key, value.encode(), hashlib.sha256).digest()[:length]


def sha256_hex(value: str | bytes) -> str:
    if isinstance(value, str):
        value = value.encode()
    return hashlib.sha256(value).hexdigest()


def uuid_str(value) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
