"""Time-based one-time codes (RFC 6238): 30 s steps, one step either side, never the same step twice."""

import re
from datetime import datetime

import pyotp
import segno
from pyotp.utils import strings_equal

STEP_SECONDS = 30
_CODE = re.compile(r"^[0-9]{6}$")  # ASCII only: pyotp's NFKC compare would accept full-width digits


def new_secret() -> str:
    """Return a fresh base32 secret (160 bits)."""
    return pyotp.random_base32(length=32)


def normalise_code(raw: str) -> str | None:
    """Strip the spaces and hyphens people type; return six digits or None."""
    code = re.sub(r"[\s-]+", "", raw or "")
    return code if _CODE.fullmatch(code) else None


def matching_step(secret: str, raw_code: str, at: datetime) -> int | None:
    """Return the time step the code belongs to if it is one of the steps accepted now, else None."""
    code = normalise_code(raw_code)
    if code is None:
        return None
    try:
        return pyotp.TOTP(secret, interval=STEP_SECONDS).verify_and_get_timecode(code, for_time=at, valid_window=1)
    except pyotp.exceptions.OTPVerificationError:
        return None


def accepted_step(secret: str, raw_code: str, last_step: int | None, at: datetime) -> int | None:
    """Return the time step the code belongs to if it is valid now and newer than last_step, else None."""
    step = matching_step(secret, raw_code, at)
    if step is None or (last_step is not None and step <= last_step):
        return None
    return step


def code_at(secret: str, at: datetime) -> str:
    """Return the code an authenticator shows at a moment (tests and the enrolment check use it)."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).at(at)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """Return the otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str, title: str) -> str:
    """Return an inline SVG QR code for the URI, with an accessible title."""
    return segno.make(uri, error="m").svg_inline(scale=5, border=4, title=title, svgclass="portal-qr")


def format_secret(secret: str) -> str:
    """Group the typed key in fours so it is easier to copy by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def same_code(a: str, b: str) -> bool:
    """Compare two codes in constant time."""
    return strings_equal(a, b)
