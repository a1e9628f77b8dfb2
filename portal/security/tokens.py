"""Random tokens for links, sessions and recovery codes, and the hashes stored in their place."""

import hashlib
import hmac
import secrets

_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to read aloud or copy by hand


def new_token() -> str:
    """Return a 256-bit URL-safe random token."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest stored instead of a token (tokens are long and random)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_recovery_code() -> str:
    """Return a recovery code such as 'k7wq-mr2d-9xhe' (about 64 bits)."""
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(13))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:13]}"


def normalise_recovery_code(raw: str) -> str:
    """Lower-case a typed recovery code and drop spaces and hyphens."""
    return "".join(ch for ch in (raw or "").lower() if ch.isalnum())


def keyed_hash(key: bytes, value: str) -> str:
    """Return an HMAC-SHA256 hex digest of a value under a key."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def equal(a: str, b: str) -> bool:
    """Compare two strings in constant time."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
