"""Password hashing with argon2id and the password policy of DESIGN section 4."""

import re
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 128
# zxcvbn ships the 30,000 most common passwords of a large breach corpus, most common first (MIT licence);
# the portal refuses all of them (at least the 10,000 most common, as the brief asks).
COMMON_LIST_SIZE = 30_000
# Words that belong to this service are as guessable here as the breach favourites (NIST SP 800-63B 3.1.1.2).
CONTEXT_WORDS = frozenset({"asye", "moderation", "moderationportal", "portal", "socialwork", "socialworker"})

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("not-a-real-password-used-for-timing")


def configure(time_cost: int, memory_cost: int, parallelism: int) -> None:
    """Change the argon2id parameters (tests lower them; production keeps the defaults)."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    # The dummy must cost what a real verification costs, or timing tells known emails from unknown ones.
    _DUMMY_HASH = _hasher.hash("not-a-real-password-used-for-timing")


def hash_password(password: str) -> str:
    """Return an argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, bool]:
    """Check a password; return (matches, needs_rehash). A missing hash still costs one verification."""
    try:
        _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    if stored_hash is None:
        return False, False
    return True, _hasher.check_needs_rehash(stored_hash)


@cache
def _common_passwords() -> frozenset[str]:
    """The kept list, loaded on first use (the module is large, and most requests never need it)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    ranked = FREQUENCY_LISTS["passwords"][:COMMON_LIST_SIZE]
    return frozenset(word.lower() for word in ranked) | CONTEXT_WORDS


def _is_common(password: str) -> bool:
    lowered = password.lower()
    common = _common_passwords()
    if lowered in common:
        return True
    # Breached lists are full of a common word padded with digits and symbols: strip them and look again.
    core = re.sub(r"[\d\W_]+$", "", re.sub(r"^[\d\W_]+", "", lowered))
    if core in common or len(set(lowered)) <= 2:
        return True
    return lowered in "01234567890123456789" or lowered in "abcdefghijklmnopqrstuvwxyz" or lowered in (
        "qwertyuiopasdfghjklzxcvbnm"
    )


def policy_problems(password: str, email: str = "") -> list[str]:
    """Return the reasons a new password is refused (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Password must be {MIN_LENGTH} characters or more")
    elif len(password) > MAX_LENGTH:
        problems.append(f"Password must be {MAX_LENGTH} characters or fewer")
    elif _is_common(password):
        problems.append("Password is too common: choose a longer phrase that is not a well-known password")
    email = email.strip().lower()
    local_part = email.split("@")[0]
    lowered = password.lower()
    if email and (email in lowered or (len(local_part) >= 4 and local_part in lowered)):
        problems.append("Password must not contain your email address")
    return problems
