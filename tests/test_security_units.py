"""Unit tests for portal.security: password policy, TOTP, tokens and the keyring."""

import json
import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from portal import create_app
from portal.security import crypto, passwords, tokens, totp
from portal.security.crypto import DecryptionError, Keyring, KeyringError

# Passwords ----------------------------------------------------------------------------------------------

UNUSUAL = "Tq7 marble!gizmo Rv"  # not common, not a sequence


@pytest.mark.parametrize("length, accepted", [(11, False), (12, True), (128, True), (129, False)])
def test_password_length_limits(length: int, accepted: bool) -> None:
    password = (UNUSUAL * 10)[:length]
    assert len(password) == length
    assert (passwords.policy_problems(password) == []) is accepted


def test_common_and_padded_common_passwords_are_refused() -> None:
    for password in ("password1234", "Password1234!", "123456789012", "qwertyuiopas", "aaaaaaaaaaaa",
                     "abababababab", "!!!!password2024!!!"):
        assert passwords.policy_problems(password), password
    assert passwords.policy_problems("correct horse battery staple") == []


def test_the_10000_most_common_passwords_from_the_kept_list_are_refused() -> None:
    """The list comes from the zxcvbn package (the 30,000 most common of a breach corpus), not a typed one."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    top = FREQUENCY_LISTS["passwords"][:10_000]
    assert len(top) == 10_000
    long_enough = [word for word in top if _long_enough(word)]
    assert len(long_enough) > 50, "too few long entries to show anything"
    for word in long_enough:
        assert passwords.policy_problems(word), word
        assert passwords.policy_problems(word.upper()), word
    # Shorter favourites are refused when padded out to the minimum with digits or symbols.
    words = [word for word in top if word.isalpha() and 6 <= len(word) < passwords.MIN_LENGTH]
    assert len(words) > 1000
    for word in words:
        assert passwords.policy_problems(word + "2026!" + "1" * (passwords.MIN_LENGTH - len(word) - 5)), word
    # Entries the old hand-typed list of 249 words did not have.
    for word in ("qazwsxedcrfv", "leavemealone", "finalfantasy", "sonyericsson", "123qweasdzxc"):
        assert passwords.policy_problems(word), word


def _long_enough(word: str) -> bool:
    return passwords.MIN_LENGTH <= len(word) <= passwords.MAX_LENGTH


def test_a_password_containing_the_email_is_refused() -> None:
    email = "Jo.Smith@Council.example"
    assert passwords.policy_problems("my jo.smith@council.example pass", email)
    assert passwords.policy_problems("JO.SMITH and a long tail", email)
    assert passwords.policy_problems("jo.smith and a long tail", "") == []
    assert passwords.policy_problems("sunny jo river boat", "jo@example.org") == []  # short local part is fine


def test_hash_and_verify_with_rehash_when_parameters_rise() -> None:
    passwords.configure(1, 8192, 1)
    stored = passwords.hash_password("a fine long passphrase")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "a fine long passphrase") == (True, False)
    assert passwords.verify_password(stored, "a fine long passphrasE") == (False, False)
    assert passwords.verify_password(None, "anything at all") == (False, False)
    assert passwords.verify_password("not a hash", "anything at all") == (False, False)
    passwords.configure(2, 8192, 1)
    try:
        assert passwords.verify_password(stored, "a fine long passphrase") == (True, True)
    finally:
        passwords.configure(1, 8192, 1)


# TOTP ---------------------------------------------------------------------------------------------------

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
AT = datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC)


@pytest.mark.parametrize("raw, expected", [
    ("123456", "123456"), ("123 456", "123456"), (" 012 345 ", "012345"), ("012-345", "012345"),
    ("\t000001\n", "000001"), ("12345", None), ("1234567", None), ("12a456", None), ("", None),
    ("\uff11\uff12\uff13\uff14\uff15\uff16", None), ("\u0661\u0662\u0663\u0664\u0665\u0666", None),
    ("123456\n7", None), ("+12345", None),
])
def test_normalise_code(raw: str, expected: str | None) -> None:
    assert totp.normalise_code(raw) == expected


def test_codes_are_accepted_one_step_either_side_and_never_twice() -> None:
    step = int(AT.timestamp()) // 30
    now_code = totp.code_at(SECRET, AT)
    assert totp.accepted_step(SECRET, now_code, None, AT) == step
    assert totp.accepted_step(SECRET, totp.code_at(SECRET, AT - timedelta(seconds=30)), None, AT) == step - 1
    assert totp.accepted_step(SECRET, totp.code_at(SECRET, AT + timedelta(seconds=30)), None, AT) == step + 1
    assert totp.accepted_step(SECRET, totp.code_at(SECRET, AT - timedelta(seconds=60)), None, AT) is None
    assert totp.accepted_step(SECRET, totp.code_at(SECRET, AT + timedelta(seconds=60)), None, AT) is None
    # Replay: the step must increase.
    assert totp.accepted_step(SECRET, now_code, step, AT) is None
    assert totp.accepted_step(SECRET, now_code, step - 1, AT) == step
    assert totp.accepted_step(SECRET, totp.code_at(SECRET, AT - timedelta(seconds=30)), step - 1, AT) is None
    spaced = f"{now_code[:3]} {now_code[3:]}"
    assert totp.accepted_step(SECRET, spaced, None, AT) == step
    window = {totp.code_at(SECRET, AT + timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    wrong = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in window)
    assert totp.accepted_step(SECRET, wrong, None, AT) is None


def test_secret_format_qr_and_uri() -> None:
    secret = totp.new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert totp.new_secret() != secret
    grouped = totp.format_secret(secret)
    assert grouped.replace(" ", "") == secret and all(len(g) == 4 for g in grouped.split(" "))
    uri = totp.provisioning_uri(secret, "jo@example.org", "Moderation portal")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    svg = totp.qr_svg(uri, "QR code for your authenticator app")
    assert svg.lstrip().startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<title>QR code for your authenticator app</title>" in svg
    assert "<script" not in svg
    assert totp.same_code("123456", "123456") and not totp.same_code("123456", "123457")


# Tokens -------------------------------------------------------------------------------------------------


def test_tokens_and_their_hashes() -> None:
    issued = {tokens.new_token() for _ in range(50)}
    assert len(issued) == 50
    assert all(len(t) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in issued)
    token = issued.pop()
    assert tokens.hash_token(token) == tokens.hash_token(token)
    assert re.fullmatch(r"[0-9a-f]{64}", tokens.hash_token(token)) and tokens.hash_token(token) != token
    assert tokens.hash_token(token) != tokens.hash_token(token + "x")


def test_recovery_codes_and_keyed_hashes() -> None:
    codes = {tokens.new_recovery_code() for _ in range(50)}
    assert len(codes) == 50
    assert all(re.fullmatch(r"[a-hjkmnp-z2-9]{4}-[a-hjkmnp-z2-9]{4}-[a-hjkmnp-z2-9]{5}", c) for c in codes)
    assert tokens.normalise_recovery_code(" K7WQ-mr2d 9XHEa ") == "k7wqmr2d9xhea"
    assert tokens.normalise_recovery_code("") == ""
    assert tokens.keyed_hash(b"k" * 32, "v") == tokens.keyed_hash(b"k" * 32, "v")
    assert tokens.keyed_hash(b"k" * 32, "v") != tokens.keyed_hash(b"j" * 32, "v")
    assert tokens.equal("abc", "abc") and not tokens.equal("abc", "abd")


# Keyring ------------------------------------------------------------------------------------------------


def test_keyring_generate_and_json_round_trip() -> None:
    keyring = Keyring.generate()
    assert len(keyring.kek(keyring.active_id)) == 32
    again = Keyring.from_json(keyring.to_json())
    assert again.keys == keyring.keys and again.active_id == keyring.active_id
    assert Keyring.generate().kek("k1") != keyring.kek("k1")
    for bad in ("", "{}", "[]", '{"active": "k1", "keys": {"k1": "c2hvcnQ"}}', '{"active": "k2", "keys": {}}',
                "not json"):
        with pytest.raises(KeyringError):
            Keyring.from_json(bad)


def test_keyring_save_is_owner_only_and_loads_back(tmp_path: Path) -> None:
    keyring = Keyring.generate()
    path = tmp_path / "keyring.json"
    old = os.umask(0o022)
    try:
        keyring.save(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Keyring.load(path, None).keys == keyring.keys
    assert Keyring.load(tmp_path / "missing.json", keyring.to_json()).keys == keyring.keys
    with pytest.raises(KeyringError):
        Keyring.load(tmp_path / "missing.json", None)
    assert json.loads(path.read_text())["active"] == "k1"


def test_the_sqlite_database_and_its_log_are_created_readable_only_by_the_owner(tmp_path: Path) -> None:
    from sqlalchemy import text

    from portal.extensions import db

    database = tmp_path / "portal.sqlite3"
    config = {"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path), "KEYRING": Keyring.generate(),
              "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"}
    old = os.umask(0o022)
    try:
        app = create_app(config)
        with app.app_context():
            db.create_all()
            db.session.execute(text("INSERT INTO organisations (name, kind) VALUES ('Org', 'employer')"))
            db.session.commit()
            files = [database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")]
            assert all(path.exists() for path in files), "WAL mode should have made its log"
            for path in files:
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            db.engine.dispose()
        # A file left readable by an older version is narrowed when the portal next starts.
        os.chmod(database, 0o644)
        create_app(config)
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_with_new_key_adds_an_active_key_and_keeps_the_old() -> None:
    keyring = Keyring.generate()
    sealed = keyring.encrypt_field("users.totp_secret", "SECRET")
    rotated = keyring.with_new_key()
    assert rotated.active_id == "k2" and set(rotated.keys) == {"k1", "k2"}
    assert rotated.kek("k1") == keyring.kek("k1") and rotated.kek("k2") != keyring.kek("k1")
    assert rotated.decrypt_field("users.totp_secret", sealed) == "SECRET"
    resealed = rotated.encrypt_field("users.totp_secret", "SECRET")
    assert Keyring.field_key_id(resealed) == "k2" and Keyring.field_key_id(sealed) == "k1"
    assert rotated.with_new_key().active_id == "k3"


def test_field_encryption_round_trip_and_binding() -> None:
    keyring = Keyring.generate()
    sealed = keyring.encrypt_field("documents.title", "Final assessment \u2013 Ms \u00c4dams")
    assert "\u00c4dams" not in sealed and "Final" not in sealed
    assert keyring.encrypt_field("documents.title", "x") != keyring.encrypt_field("documents.title", "x")
    assert keyring.decrypt_field("documents.title", sealed) == "Final assessment \u2013 Ms \u00c4dams"
    with pytest.raises(DecryptionError):
        keyring.decrypt_field("documents.filename", sealed)  # moved to another column
    prefix, kid, body = sealed.split(".", 2)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for tampered in (f"{prefix}.{kid}.{flipped}", f"{prefix}.{kid}.{body[:-4]}", "garbage", f"f9.{kid}.{body}"):
        with pytest.raises(DecryptionError):
            keyring.decrypt_field("documents.title", tampered)
    with pytest.raises(DecryptionError):
        Keyring.generate().decrypt_field("documents.title", sealed)  # another keyring's k1


def test_wrap_unwrap_and_unknown_key_id() -> None:
    keyring = Keyring.generate()
    data_key = os.urandom(32)
    kid, wrapped = keyring.wrap(data_key)
    assert kid == "k1" and wrapped != data_key and len(wrapped) == 40
    assert keyring.unwrap(kid, wrapped) == data_key
    with pytest.raises(DecryptionError):
        keyring.unwrap(kid, wrapped[:-1] + bytes([wrapped[-1] ^ 1]))
    with pytest.raises(DecryptionError):
        Keyring.generate().unwrap("k1", wrapped)
    with pytest.raises(KeyringError):
        keyring.unwrap("k9", wrapped)
    with pytest.raises(KeyringError):
        keyring.decrypt_field("t.c", keyring.encrypt_field("t.c", "x").replace(".k1.", ".k9.", 1))
    with pytest.raises(KeyringError):
        Keyring(keys={"k1": b"short"}, active_id="k1")


def test_derived_keys_differ_by_purpose_and_key() -> None:
    keyring = Keyring.generate().with_new_key()
    assert keyring.derive("a")[1] != keyring.derive("b")[1]
    assert keyring.derive("a", "k1")[1] != keyring.derive("a", "k2")[1]
    assert keyring.derive("a") == ("k2", keyring.derive("a", "k2")[1])


def test_the_portal_refuses_to_start_without_a_keyring(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    config = {"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": str(instance),
              "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    with pytest.raises(KeyringError):
        create_app(config)
    # With the keyring saved in the instance folder, the same configuration starts.
    Keyring.generate().save(instance / "keyring.json")
    assert create_app(config).extensions["keyring"] is crypto.installed()
