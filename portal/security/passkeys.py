"""WebAuthn ceremonies (passkeys and security keys) with py_webauthn: the options a browser is given and the checks
of its answers. No Flask and no models: portal/auth/passkeys.py stores credentials and challenges and calls these.
"""

import json
import secrets
from dataclasses import dataclass

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

CHALLENGE_BYTES = 32
TIMEOUT_MS = 3 * 60 * 1000  # what the browser is told; the server forgets a challenge after CHALLENGE_SECONDS
CHALLENGE_SECONDS = 5 * 60
MAX_RESPONSE_CHARS = 20_000  # a browser's answer is a few kilobytes; anything longer is refused unread


@dataclass(frozen=True)
class RelyingParty:
    """Who the credentials belong to: the relying-party id (a domain), a name people see, and the exact origin."""

    id: str
    name: str
    origin: str


class CeremonyFailed(Exception):
    """The browser's answer is malformed or does not verify; the text is for the audit trail, never shown."""


@dataclass(frozen=True)
class NewCredential:
    """A verified registration: what is stored for a new passkey or security key."""

    credential_id: str  # base64url
    public_key: bytes  # COSE
    sign_count: int
    user_verified: bool
    backed_up: bool
    transports: tuple[str, ...]


@dataclass(frozen=True)
class Assertion:
    """A verified authentication: the counter the authenticator reported and whether it verified the person."""

    credential_id: str
    sign_count: int
    user_verified: bool
    backed_up: bool


def new_challenge() -> bytes:
    """A fresh random challenge (256 bits)."""
    return secrets.token_bytes(CHALLENGE_BYTES)


def user_handle_from(digest: bytes) -> str:
    """A user id for authenticators (never the email or the database id) from a keyed digest, base64url."""
    return bytes_to_base64url(digest[:32])


def _descriptors(credentials: list[tuple[str, str]]) -> list[PublicKeyCredentialDescriptor]:
    """(credential id, comma-separated transports) pairs as py_webauthn's descriptors."""
    known = {transport.value for transport in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(credential_id),
            transports=[AuthenticatorTransport(t) for t in transports.split(",") if t in known] or None,
        )
        for credential_id, transports in credentials
    ]


def registration_options(rp: RelyingParty, challenge: bytes, user_handle: str, user_name: str, display_name: str,
                         existing: list[tuple[str, str]]) -> str:
    """The JSON options for navigator.credentials.create().

    A discoverable credential is preferred (so a passkey can sign in on its own later), user verification is
    preferred but not required (a security key without a PIN still works as a second factor), no attestation is
    asked for, and the person's existing credentials are excluded so one authenticator is not added twice.
    """
    options = generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_id=base64url_to_bytes(user_handle), user_name=user_name,
        user_display_name=display_name, challenge=challenge, timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(existing),
    )
    return options_to_json(options)


def authentication_options(rp: RelyingParty, challenge: bytes, allowed: list[tuple[str, str]]) -> str:
    """The JSON options for navigator.credentials.get(): the person's credentials, or none (any of this site)."""
    options = generate_authentication_options(
        rp_id=rp.id, challenge=challenge, timeout=TIMEOUT_MS, allow_credentials=_descriptors(allowed),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options)


def _checked_json(response_json: str) -> dict:
    if not response_json or len(response_json) > MAX_RESPONSE_CHARS:
        raise CeremonyFailed("no answer, or one too long")
    try:
        value = json.loads(response_json)
    except ValueError as exc:
        raise CeremonyFailed("the answer is not JSON") from exc
    if not isinstance(value, dict):
        raise CeremonyFailed("the answer is not a JSON object")
    return value


def verify_registration(rp: RelyingParty, challenge: bytes, response_json: str) -> NewCredential:
    """Check a navigator.credentials.create() answer against the challenge, origin and relying-party id."""
    answer = _checked_json(response_json)
    try:
        verified = verify_registration_response(credential=answer, expected_challenge=challenge,
                                                expected_rp_id=rp.id, expected_origin=rp.origin)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise CeremonyFailed(str(exc) or type(exc).__name__) from exc
    transports = answer.get("response", {}).get("transports") or []
    return NewCredential(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        user_verified=verified.user_verified,
        backed_up=verified.credential_backed_up,
        transports=tuple(t for t in transports if isinstance(t, str))[:10],
    )


def credential_id_of(response_json: str) -> str:
    """The credential id a navigator.credentials.get() answer names (not yet verified), to find its public key."""
    try:
        return parse_authentication_credential_json(_checked_json(response_json)).id
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise CeremonyFailed(str(exc) or type(exc).__name__) from exc


def verify_authentication(rp: RelyingParty, challenge: bytes, response_json: str, public_key: bytes,
                          require_user_verification: bool) -> Assertion:
    """Check a navigator.credentials.get() answer: challenge, origin, relying-party id, presence, signature.

    The signature counter is not compared here (py_webauthn is given 0): the caller compares it with
    `counter_goes_back` after the signature is proven, so a cloned authenticator is told apart from a bad answer.
    """
    answer = _checked_json(response_json)
    try:
        verified = verify_authentication_response(
            credential=answer, expected_challenge=challenge, expected_rp_id=rp.id, expected_origin=rp.origin,
            credential_public_key=public_key, credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise CeremonyFailed(str(exc) or type(exc).__name__) from exc
    return Assertion(credential_id=bytes_to_base64url(verified.credential_id), sign_count=verified.new_sign_count,
                     user_verified=verified.user_verified, backed_up=verified.credential_backed_up)


def counter_goes_back(stored: int, reported: int) -> bool:
    """True when the signature counter did not move forward: the sign of a cloned authenticator (WebAuthn §6.1.1).

    Authenticators that keep no counter (many synced passkeys) report 0 every time; that is allowed while the
    stored count is 0 too.
    """
    return (stored > 0 or reported > 0) and reported <= stored
