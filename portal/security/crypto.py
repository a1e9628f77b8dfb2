"""The keyring of key-encryption keys, field encryption and key derivation (DESIGN section 5).

This module (and the rest of portal.security) is the only code that imports `cryptography`.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

KEY_BYTES = 32
# Format 1 ("f1.<kid>.<b64>"): AES-GCM bound to a label only ("table.column", or a caller's own binding). Database
# columns used it until migration 0006; it remains for values that live outside a table row (the sealed cohort
# import, a pending authenticator change), which carry their own binding.
_FIELD_PREFIX = "f1"
_FIELD_PURPOSE = "portal field encryption v1"
# Format 2 ("f2.<kid>.<b64>"): a database field bound to its table, column *and row*, under a key of its own.
ROW_FIELD_PREFIX = "f2"
_ROW_FIELD_PURPOSE = "portal field encryption v2: bound to table, column and row"
_KEY_CHECK_PURPOSE = "portal key check v1"
_KEY_CHECK_LABEL = b"the deployment's key-encryption key under this id"
_SECRET_CHECK_PURPOSE = b"portal SECRET_KEY check v1"


class KeyringError(Exception):
    """The keyring is missing, unreadable or lacks a key that is needed."""


class DecryptionError(Exception):
    """Ciphertext failed authentication: it was altered, truncated, swapped or encrypted under another key."""


class FieldIntegrityError(DecryptionError):
    """A row-bound field did not decrypt for its table, column and row: altered, or copied from another row."""

    def __init__(self, column: str, row: str, reason: str = "") -> None:
        super().__init__(f"{column} of row {row} failed its integrity check{': ' + reason if reason else ''}")
        self.column = column
        self.row = row

    @property
    def table(self) -> str:
        """The table the field belongs to."""
        return self.column.split(".", 1)[0]


def _row_binding(column: str, row: object) -> bytes:
    """The associated data of a row-bound field: "table.column", a NUL, then the row's identity as text."""
    return f"{column}\x00{row}".encode()


def secret_check(secret: str | bytes) -> str:
    """A value that shows whether two hosts share a SECRET_KEY without revealing it (HMAC of a fixed label)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, _SECRET_CHECK_PURPOSE, hashlib.sha256).hexdigest()


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

    def next_key_id(self, taken: Iterable[str] = ()) -> str:
        """The id a new key gets: k<n> after the highest number in the keyring or in `taken`."""
        number = 1 + max((int(k[1:]) for k in {*self.keys, *taken} if k[1:].isdigit()), default=0)
        return f"k{number}"

    def with_new_key(self, activate: bool = True, taken: Iterable[str] = ()) -> "Keyring":
        """Return a copy with a fresh key added, made active unless activate is False (rotation's first step).

        `taken`: ids the deployment has used, which a new key never reuses.
        """
        new_id = self.next_key_id(taken)
        return Keyring(keys={**self.keys, new_id: secrets.token_bytes(KEY_BYTES)},
                       active_id=new_id if activate else self.active_id)

    def with_active(self, kid: str) -> "Keyring":
        """Return a copy whose active key is `kid` (which must be in the keyring); derived keys are kept."""
        if kid == self.active_id:
            return self
        self.kek(kid)
        return Keyring(keys=dict(self.keys), active_id=kid, _derived=self._derived)

    def without(self, kid: str) -> "Keyring":
        """Return a copy without the key `kid` (which must not be the active key)."""
        return Keyring(keys={k: v for k, v in self.keys.items() if k != kid}, active_id=self.active_id)

    def check_value(self, kid: str) -> str:
        """A value the database keeps per key id to tell the right key from another under the same id.

        HMAC-SHA256 of a fixed label under a key derived (HKDF) for this purpose only, so it reveals nothing
        about the key-encryption key or anything else derived from it.
        """
        _, key = self.derive(_KEY_CHECK_PURPOSE, kid)
        return hmac.new(key, _KEY_CHECK_LABEL, hashlib.sha256).hexdigest()

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

    def encrypt_row_field(self, column: str, row: object, plaintext: str) -> str:
        """Encrypt a database field with AES-GCM, binding it to its table and column and to its row's identity.

        A value copied to another row, column or table does not decrypt there (format "f2").
        """
        kid, key = self.derive(_ROW_FIELD_PURPOSE)
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), _row_binding(column, row))
        return f"{ROW_FIELD_PREFIX}.{kid}.{_b64(nonce + sealed)}"

    def decrypt_row_field(self, column: str, row: object, stored: str) -> str:
        """Decrypt a value written by encrypt_row_field for the same column and row; anything else is refused.

        Raises FieldIntegrityError (a DecryptionError) naming the column and row, and KeyringError when the
        value is under a key this keyring lacks.
        """
        try:
            prefix, kid, body = stored.split(".", 2)
        except ValueError:
            raise FieldIntegrityError(column, str(row), "not a stored field value") from None
        if prefix != ROW_FIELD_PREFIX:
            reason = "in the format before migration 0006, not bound to its row" if prefix == _FIELD_PREFIX else (
                "not a stored field value")
            raise FieldIntegrityError(column, str(row), reason)
        _, key = self.derive(_ROW_FIELD_PURPOSE, kid)
        try:
            raw = _unb64(body)
            return AESGCM(key).decrypt(raw[:12], raw[12:], _row_binding(column, row)).decode("utf-8")
        except Exception as exc:
            raise FieldIntegrityError(column, str(row), "altered, or copied from another row") from exc

    def encrypt_field(self, column: str, plaintext: str) -> str:
        """Encrypt a short text with AES-GCM bound to a label only (format "f1").

        For values kept outside a table row, which carry their own binding in the label (the sealed cohort
        import, a pending authenticator change). Database columns use encrypt_row_field.
        """
        kid, key = self.derive(_FIELD_PURPOSE)
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), column.encode("utf-8"))
        return f"{_FIELD_PREFIX}.{kid}.{_b64(nonce + sealed)}"

    def decrypt_field(self, column: str, stored: str) -> str:
        """Decrypt a value written by encrypt_field for the same label."""
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
_resolver: Callable[[], Keyring | None] | None = None


def install(keyring: Keyring) -> None:
    """Make a keyring the process's keyring for encrypted columns."""
    global _installed
    _installed = keyring


def install_resolver(resolver: Callable[[], Keyring | None]) -> None:
    """Give a function that returns the keyring in use where it depends on context (the running application).

    It returns None where it has no answer, and the process's keyring is used instead.
    """
    global _resolver
    _resolver = resolver


def installed() -> Keyring:
    """Return the keyring in use (the running application's, else the process's), refusing if there is none."""
    if _resolver is not None:
        found = _resolver()
        if found is not None:
            return found
    if _installed is None:
        raise KeyringError("no keyring is loaded")
    return _installed
