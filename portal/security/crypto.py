"""The keyring of key-encryption keys, field encryption and key derivation (DESIGN section 5).

This module (and the rest of portal.security) is the only code that imports `cryptography`.
"""

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

KEY_BYTES = 32
_FIELD_PREFIX = "f1"
_FIELD_PURPOSE = "portal field encryption v1"


class KeyringError(Exception):
    """The keyring is missing, unreadable or lacks a key that is needed."""


class DecryptionError(Exception):
    """Ciphertext failed authentication: it was altered, truncated, swapped or encrypted under another key."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Keyring:
    """Key-encryption keys by id; one of them is active for new encryptions."""

    keys: dict[str, bytes]
    active_id: str
    _derived: dict[tuple[str, str], bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise KeyringError(f"the active key {self.active_id!r} is not in the keyring")
        for kid, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {kid!r} is not {KEY_BYTES} bytes")

    @classmethod
    def generate(cls) -> "Keyring":
        """Return a keyring holding one new random key."""
        return cls(keys={"k1": secrets.token_bytes(KEY_BYTES)}, active_id="k1")

    @classmethod
    def from_json(cls, text: str) -> "Keyring":
        """Parse the keyring's JSON form: {"active": id, "keys": {id: base64url}}."""
        try:
            data = json.loads(text)
            return cls(keys={kid: _unb64(v) for kid, v in data["keys"].items()}, active_id=data["active"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyringError(f"the keyring is not valid: {exc}") from exc

    @classmethod
    def load(cls, path: Path, env_value: str | None) -> "Keyring":
        """Load from the environment value if given, else from the file; refuse if neither exists."""
        if env_value:
            return cls.from_json(env_value)
        if not path.is_file():
            raise KeyringError(f"no keyring at {path.name} in the instance folder and none in PORTAL_KEYRING")
        return cls.from_json(path.read_text("utf-8"))

    def to_json(self) -> str:
        """Return the JSON form stored in instance/keyring.json."""
        return json.dumps({"active": self.active_id, "keys": {k: _b64(v) for k, v in self.keys.items()}})

    def save(self, path: Path) -> None:
        """Write the keyring readable by its owner only (mode 0600), atomically."""
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    def with_new_key(self) -> "Keyring":
        """Return a copy with a fresh key added and made active (rotation's first step)."""
        number = 1 + max((int(k[1:]) for k in self.keys if k[1:].isdigit()), default=0)
        new_id = f"k{number}"
        return Keyring(keys={**self.keys, new_id: secrets.token_bytes(KEY_BYTES)}, active_id=new_id)

    def kek(self, kid: str) -> bytes:
        """Return the key-encryption key with this id."""
        try:
            return self.keys[kid]
        except KeyError:
            raise KeyringError(f"key {kid!r} is not in the keyring") from None

    def derive(self, purpose: str, kid: str | None = None) -> tuple[str, bytes]:
        """Return (key id, 32-byte key) derived with HKDF-SHA256 from a KEK for one purpose."""
        kid = kid or self.active_id
        cache_key = (kid, purpose)
        if cache_key not in self._derived:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode("utf-8"))
            self._derived[cache_key] = hkdf.derive(self.kek(kid))
        return kid, self._derived[cache_key]

    # Field encryption -------------------------------------------------------------------------------

    def encrypt_field(self, column: str, plaintext: str) -> str:
        """Encrypt a short text with AES-GCM, binding it to its table and column."""
        kid, key = self.derive(_FIELD_PURPOSE)
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), column.encode("utf-8"))
        return f"{_FIELD_PREFIX}.{kid}.{_b64(nonce + sealed)}"

    def decrypt_field(self, column: str, stored: str) -> str:
        """Decrypt a value written by encrypt_field for the same column."""
        try:
            prefix, kid, body = stored.split(".", 2)
            if prefix != _FIELD_PREFIX:
                raise ValueError("unknown format")
            raw = _unb64(body)
            _, key = self.derive(_FIELD_PURPOSE, kid)
            return AESGCM(key).decrypt(raw[:12], raw[12:], column.encode("utf-8")).decode("utf-8")
        except KeyringError:
            raise
        except Exception as exc:
            raise DecryptionError(f"a value in {column} failed to decrypt") from exc

    @staticmethod
    def field_key_id(stored: str) -> str:
        """Return the id of the KEK a stored field value was encrypted under."""
        return stored.split(".", 2)[1]

    # Data keys ---------------------------------------------------------------------------------------

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        """Wrap a data key with AES-256 key wrap (RFC 3394) under the active KEK; return (kid, wrapped)."""
        return self.active_id, aes_key_wrap(self.kek(self.active_id), data_key)

    def unwrap(self, kid: str, wrapped: bytes) -> bytes:
        """Unwrap a data key wrapped under the KEK with this id."""
        try:
            return aes_key_unwrap(self.kek(kid), wrapped)
        except InvalidUnwrap as exc:
            raise DecryptionError("a data key failed to unwrap") from exc


_installed: Keyring | None = None


def install(keyring: Keyring) -> None:
    """Make a keyring the process's keyring for encrypted columns."""
    global _installed
    _installed = keyring


def installed() -> Keyring:
    """Return the process's keyring, refusing if none was installed."""
    if _installed is None:
        raise KeyringError("no keyring is loaded")
    return _installed
