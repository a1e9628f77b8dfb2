"""A software authenticator for the HTTP tests: it answers the portal's WebAuthn options as a browser and a passkey
or security key would (attestation "none", ES256), so the whole server side runs without a browser.

It is a module of its own, not part of tests/factories.py, because it makes no rows: it is a small client-side
implementation of the WebAuthn ceremonies (CBOR, COSE keys, authenticator data, ECDSA signatures) that the tests
drive through the real pages. Passkey rows made directly in the database come from factories.add_passkey.
The browser tests drive Chromium's own virtual authenticator instead (tests/browser/test_passkeys.py).
"""

import base64
import hashlib
import html as html_module
import json
import re
import secrets
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

OPTIONS = re.compile(r'data-passkey-options="([^"]+)"')


def b64url(data: bytes) -> str:
    """base64url without padding, as WebAuthn's JSON uses."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """The bytes of a base64url string with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def options_in(html: str) -> dict:
    """The WebAuthn options a page hands its script (in the data-passkey-options attribute)."""
    found = OPTIONS.search(html)
    assert found, "the page offers no passkey ceremony"
    return json.loads(html_module.unescape(found.group(1)))


@dataclass
class SoftAuthenticator:
    """One credential on a software authenticator. `verifies` says whether it checks a PIN or fingerprint (UV)."""

    origin: str = "https://portal.test"
    verifies: bool = True
    counter: int = 0
    step: int = 1  # how much the counter moves each use (0: an authenticator that keeps no counter)
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    user_handle: bytes = b""

    @property
    def id(self) -> str:
        """The credential id, base64url."""
        return b64url(self.credential_id)

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, rp_id: str, attested: bool) -> bytes:
        flags = 0x01 | (0x04 if self.verifies else 0) | (0x40 if attested else 0)
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + self.counter.to_bytes(4, "big")
        if attested:
            data += bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self._cose_key()
        return data

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict, origin: str | None = None, rp_id: str | None = None) -> str:
        """Answer navigator.credentials.create() options: a new credential, as JSON."""
        self.user_handle = unb64url(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {},
                                   "authData": self._auth_data(rp_id or options["rp"]["id"], attested=True)})
        return json.dumps({
            "id": self.id, "rawId": self.id, "type": "public-key", "clientExtensionResults": {},
            "authenticatorAttachment": "cross-platform",
            "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation),
                         "transports": ["usb"]},
        })

    def get(self, options: dict, origin: str | None = None, rp_id: str | None = None,
            counter: int | None = None) -> str:
        """Answer navigator.credentials.get() options with this credential (signing with its key), as JSON."""
        self.counter = self.counter + self.step if counter is None else counter
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(rp_id or options["rpId"], attested=False)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": self.id, "rawId": self.id, "type": "public-key", "clientExtensionResults": {},
            "authenticatorAttachment": "cross-platform",
            "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                         "signature": b64url(signature), "userHandle": b64url(self.user_handle)},
        })
