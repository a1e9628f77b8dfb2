"""The WebAuthn checks (portal/security/passkeys.py) against fixed ceremony data: known answers verify, and every
change an attacker could make (challenge, origin, relying party, signature, key, counter, verification) fails."""

import base64
import json
from pathlib import Path

import pytest

from portal.security import passkeys

DATA = json.loads((Path(__file__).parent / "passkey_ceremonies.json").read_text())
RP = passkeys.RelyingParty(id=DATA["rp_id"], name="Moderation portal", origin=DATA["origin"])


def _bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


REG_CHALLENGE = _bytes(DATA["registration_challenge"])
AUTH_CHALLENGE = _bytes(DATA["authentication_challenge"])


def _registered(kind: str = "passkey") -> passkeys.NewCredential:
    return passkeys.verify_registration(RP, REG_CHALLENGE, json.dumps(DATA[kind]["registration"]))


def _client_data_changed(answer: dict, **changes: str) -> str:
    """The answer with its clientDataJSON altered (as a phishing page or a replayed answer would have it)."""
    changed = json.loads(json.dumps(answer))
    client_data = json.loads(_bytes(changed["response"]["clientDataJSON"]))
    client_data.update(changes)
    changed["response"]["clientDataJSON"] = _b64(json.dumps(client_data).encode())
    return json.dumps(changed)


def test_a_recorded_registration_verifies_and_gives_the_credential() -> None:
    credential = _registered()
    assert credential.credential_id == DATA["passkey"]["credential_id"]
    assert credential.sign_count == 0
    assert credential.user_verified is True
    assert credential.transports == ("usb",)
    assert credential.public_key[:1] == b"\xa5"  # a COSE map of five entries (EC2 P-256)


def test_a_security_key_without_verification_registers_but_says_so() -> None:
    assert _registered("security_key").user_verified is False


@pytest.mark.parametrize(("what", "change"), [
    ("another challenge", {"challenge": _b64(b"x" * 32)}),
    ("another origin (a phishing site)", {"origin": "https://portal.test.example"}),
    ("the wrong ceremony", {"type": "webauthn.get"}),
])
def test_a_registration_changed_in_any_way_is_refused(what: str, change: dict) -> None:
    with pytest.raises(passkeys.CeremonyFailed):
        passkeys.verify_registration(RP, REG_CHALLENGE, _client_data_changed(DATA["passkey"]["registration"], **change))


def test_a_registration_for_another_relying_party_is_refused() -> None:
    other = passkeys.RelyingParty(id="evil.test", name="x", origin=DATA["origin"])
    with pytest.raises(passkeys.CeremonyFailed, match="RP ID"):
        passkeys.verify_registration(other, REG_CHALLENGE, json.dumps(DATA["passkey"]["registration"]))


@pytest.mark.parametrize("garbage", ["", "not json", "[]", '{"id": "x"}', "{" * 30_000])
def test_malformed_answers_fail_plainly(garbage: str) -> None:
    with pytest.raises(passkeys.CeremonyFailed):
        passkeys.verify_registration(RP, REG_CHALLENGE, garbage)
    with pytest.raises(passkeys.CeremonyFailed):
        passkeys.credential_id_of(garbage)


def test_a_recorded_authentication_verifies_with_its_counter_and_verification() -> None:
    key = _registered().public_key
    answer = json.dumps(DATA["passkey"]["first_use"])
    assert passkeys.credential_id_of(answer) == DATA["passkey"]["credential_id"]
    assertion = passkeys.verify_authentication(RP, AUTH_CHALLENGE, answer, key, require_user_verification=True)
    assert (assertion.sign_count, assertion.user_verified) == (1, True)
    second = passkeys.verify_authentication(RP, _bytes(DATA["second_challenge"]),
                                            json.dumps(DATA["passkey"]["second_use"]), key, True)
    assert second.sign_count == 2


def test_an_authentication_with_another_challenge_origin_or_key_is_refused() -> None:
    key = _registered().public_key
    answer = DATA["passkey"]["first_use"]
    with pytest.raises(passkeys.CeremonyFailed, match="challenge"):
        passkeys.verify_authentication(RP, REG_CHALLENGE, json.dumps(answer), key, False)
    with pytest.raises(passkeys.CeremonyFailed, match="origin"):
        passkeys.verify_authentication(RP, AUTH_CHALLENGE, _client_data_changed(answer, origin="https://evil.test"),
                                       key, False)
    with pytest.raises(passkeys.CeremonyFailed, match="signature"):
        passkeys.verify_authentication(RP, AUTH_CHALLENGE, json.dumps(answer), _registered("security_key").public_key,
                                       False)


def test_a_tampered_signature_is_refused() -> None:
    answer = json.loads(json.dumps(DATA["passkey"]["first_use"]))
    signature = bytearray(_bytes(answer["response"]["signature"]))
    signature[-1] ^= 1
    answer["response"]["signature"] = _b64(bytes(signature))
    with pytest.raises(passkeys.CeremonyFailed):
        passkeys.verify_authentication(RP, AUTH_CHALLENGE, json.dumps(answer), _registered().public_key, False)


def test_a_security_key_without_verification_cannot_be_both_factors() -> None:
    key = _registered("security_key").public_key
    answer = json.dumps(DATA["security_key"]["use"])
    assert passkeys.verify_authentication(RP, AUTH_CHALLENGE, answer, key, False).user_verified is False
    with pytest.raises(passkeys.CeremonyFailed, match="verification"):
        passkeys.verify_authentication(RP, AUTH_CHALLENGE, answer, key, require_user_verification=True)


@pytest.mark.parametrize(("stored", "reported", "cloned"), [
    (0, 0, False),  # an authenticator that keeps no counter
    (0, 1, False),
    (1, 2, False),
    (2, 2, True),  # the same count twice: a copy of the key was used
    (5, 3, True),
    (5, 0, True),
])
def test_the_counter_must_move_forward(stored: int, reported: int, cloned: bool) -> None:
    assert passkeys.counter_goes_back(stored, reported) is cloned


def test_options_carry_the_relying_party_the_challenge_and_exclude_existing_keys() -> None:
    options = json.loads(passkeys.registration_options(RP, REG_CHALLENGE, _b64(b"\x01" * 32), "a@example.org", "A",
                                                       [(DATA["passkey"]["credential_id"], "usb,nfc")]))
    assert options["rp"] == {"id": "portal.test", "name": "Moderation portal"}
    assert options["challenge"] == DATA["registration_challenge"]
    assert options["excludeCredentials"][0]["id"] == DATA["passkey"]["credential_id"]
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["attestation"] == "none"
    request = json.loads(passkeys.authentication_options(RP, AUTH_CHALLENGE, []))
    assert request["rpId"] == "portal.test" and request.get("allowCredentials", []) == []
