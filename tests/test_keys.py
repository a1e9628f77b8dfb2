"""Key rotation (resumable, blobs untouched), key status and retirement, and blob verification."""

import os
import stat
from pathlib import Path

import pytest
from conftest import sign_in, submit
from factories import add_panel_copy, blob_path, make_moderated_portfolio, store_document
from helpers_blobs import blob_file
from helpers_keys import blob_files, cli_runner, file_keyring_config
from sqlalchemy import select, text

from portal.extensions import db
from portal.models import Document, DocumentVersion, PanelCopy, Role, SampleDraw, User
from portal.ops import keys
from portal.security.crypto import Keyring

pytestmark = pytest.mark.both_blob_stores  # every test against the local folder and an S3 bucket


@pytest.fixture
def app_config(app_config, tmp_path):
    return file_keyring_config(app_config, tmp_path)


@pytest.fixture
def cli(app):
    return cli_runner(app)


@pytest.fixture
def stocked(app, make_user):
    """Three people and four documents (one with two versions) under the first key."""
    people = [make_user(Role.ADMIN), make_user(Role.MEMBER), make_user(Role.MEMBER)]
    documents = [store_document(app, people[0].id, [b"first draft", b"second draft"]),
                 store_document(app, people[0].id, [b"observation notes " * 3000]),
                 store_document(app, people[0].id, [b""]),
                 store_document(app, people[0].id, [b"x" * 40_000], title="Jo's final report")]
    return people, documents


def keyring_on_disk(app) -> Keyring:
    return Keyring.from_json(Path(app.config["KEYRING_FILE"]).read_text())


def decrypted_snapshot(app) -> dict:
    """Every encrypted value read back through the models, to compare before and after a rotation."""
    with app.app_context():
        db.session.expire_all()
        return {
            "users": sorted((u.id, u.totp_secret) for u in db.session.scalars(select(User))),
            "documents": sorted((d.id, d.title) for d in db.session.scalars(select(Document))),
            "versions": sorted((v.id, v.filename, v.digest) for v in db.session.scalars(select(DocumentVersion))),
        }


def test_rotate_rewraps_everything_without_touching_blobs(app, client, cli, stocked):
    people, _ = stocked
    before_blobs, before_values = blob_files(app), decrypted_snapshot(app)

    result = cli("keys", "rotate", "--batch-size", "2")

    assert result.exit_code == 0, result.output
    assert "added key k2" in result.output and "rotation complete" in result.output
    ring = keyring_on_disk(app)
    assert ring.active_id == "k2" and set(ring.keys) == {"k1", "k2"}
    assert stat.S_IMODE(os.stat(app.config["KEYRING_FILE"]).st_mode) == 0o600
    assert not list(Path(app.config["KEYRING_FILE"]).parent.glob("*.tmp"))
    with app.app_context():
        found = keys.usage()
        assert found.data_keys == {"k2": 5}
        assert set(found.fields) == {"k2"} and found.fields["k2"] >= 3 + 4 + 5 * 2
        assert found.pending("k2") == 0
    assert blob_files(app) == before_blobs  # same bytes, same modification times
    assert decrypted_snapshot(app) == before_values
    verified = cli("keys", "verify")
    assert verified.exit_code == 0 and "verified 5 of 5 blobs; 0 failed" in verified.output
    sign_in(app, client, people[1])  # the TOTP secret, re-encrypted, still works over HTTP
    assert client.get("/dashboard").status_code == 200


def test_rotation_killed_halfway_resumes_without_adding_another_key(app, cli, stocked, monkeypatch):
    before = decrypted_snapshot(app)

    def crash(changed: int) -> None:
        if changed >= 3:
            raise RuntimeError("killed")

    monkeypatch.setattr(keys, "after_batch", crash)
    with pytest.raises(RuntimeError, match="killed"):
        cli("keys", "rotate", "--batch-size", "1")
    monkeypatch.setattr(keys, "after_batch", None)

    with app.app_context():
        half = keys.usage()
        assert half.data_keys == {"k2": 3, "k1": 2}  # three batches committed, then the kill
        assert half.pending("k2") > 0
    status = cli("keys", "status")
    assert "not yet under the active key" in status.output
    assert "run `keys rewrap` (or `keys rotate`) to finish" in status.output
    assert decrypted_snapshot(app) == before  # a half-rotated database still reads correctly

    result = cli("keys", "rotate", "--batch-size", "1")

    assert result.exit_code == 0, result.output
    assert "resuming the unfinished rotation to key k2" in result.output
    assert "re-wrapped 2 data keys" in result.output  # rows already under k2 were skipped
    assert set(keyring_on_disk(app).keys) == {"k1", "k2"}
    assert decrypted_snapshot(app) == before
    with app.app_context():
        assert keys.usage().pending("k2") == 0
    assert cli("keys", "verify").exit_code == 0


def test_rotate_with_limit_stops_and_a_rerun_completes(app, cli, stocked):
    first = cli("keys", "rotate", "--batch-size", "1", "--limit", "2")
    assert "rotation NOT complete" in first.output
    with app.app_context():
        assert keys.usage().data_keys == {"k2": 2, "k1": 3}
    second = cli("keys", "rotate")
    assert "rotation complete" in second.output and "re-wrapped 3 data keys" in second.output
    third = cli("keys", "rotate")  # a finished rotation: the next run starts a new one
    assert "added key k3" in third.output and "re-wrapped 5 data keys" in third.output
    assert cli("keys", "verify").exit_code == 0


def test_status_counts_rows_under_each_key(app, cli, stocked):
    cli("keys", "rotate", "--limit", "1", "--batch-size", "2")
    output = cli("keys", "status").output
    lines = {line.split()[0]: line.split() for line in output.splitlines()[1:3]}
    assert lines["k1"][1] == "kept" and lines["k1"][2] == "3"
    assert lines["k2"][1] == "active" and lines["k2"][2] == "2"


def test_retire_refuses_a_key_in_use_and_removes_an_unused_one(app, client, cli, stocked):
    people, _ = stocked
    sign_in(app, client, people[0])  # audit events under k1: they keep k1 alive

    assert "not retired" in cli("keys", "retire", "k1").output  # still the active key
    cli("keys", "rotate")
    refused = cli("keys", "retire", "k1")
    assert refused.exit_code == 1 and "audit events" in refused.output
    assert "k1" in keyring_on_disk(app).keys
    assert cli("keys", "retire", "k2").exit_code == 1  # the active key
    assert cli("keys", "retire", "k9").exit_code == 1  # not in the keyring


def test_retire_after_rotation_when_nothing_needs_the_old_key(app, cli, stocked):
    assert cli("keys", "rotate").exit_code == 0  # no audit events or recovery codes under k1 in this test
    result = cli("keys", "retire", "k1")
    assert result.exit_code == 0, result.output
    assert set(keyring_on_disk(app).keys) == {"k2"}
    assert cli("keys", "verify").exit_code == 0


def test_rotate_refuses_to_write_a_keyring_given_by_environment(app, app_config, tmp_path, make_user):
    from portal import create_app

    ring = keyring_on_disk(app)  # the deployment's keyring, given to this host by environment
    config = {**app_config, "KEYRING_JSON": ring.to_json(), "KEYRING_FILE": str(tmp_path / "nowhere.json")}
    application = create_app(config)
    result = application.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 2
    assert "NOT changed" in result.output and "run `keys activate k2` and `keys rewrap`" in result.output
    printed = Keyring.from_json(result.output.strip().splitlines()[-1])
    # The new key is there to be given to every host first; it is not active until `keys activate`.
    assert printed.active_id == "k1" and set(printed.keys) == {"k1", "k2"} and printed.keys["k1"] == ring.keys["k1"]
    assert not (tmp_path / "nowhere.json").exists()
    with application.app_context():
        assert application.extensions["keyring"].active_id == "k1"  # still using the stored keyring
        assert set(application.extensions["keyring"].keys) == {"k1"}
        db.session.remove()
        db.engine.dispose()


def test_verify_reports_tampered_truncated_swapped_and_missing_blobs(app, cli, stocked):
    _, documents = stocked
    (first, (v1, v2)), (second, (v3,)), (third, (v4,)), (fourth, (v5,)) = documents
    tampered = bytearray(blob_path(app, v3).read_bytes())
    tampered[100] ^= 1
    blob_path(app, v3).write_bytes(bytes(tampered))
    blob_path(app, v5).write_bytes(blob_path(app, v5).read_bytes()[:-20])
    one, two = blob_path(app, v1).read_bytes(), blob_path(app, v2).read_bytes()
    blob_path(app, v1).write_bytes(two)
    blob_path(app, v2).write_bytes(one)
    blob_path(app, v4).unlink()

    result = cli("keys", "verify")

    assert result.exit_code == 1
    assert f"FAILED document {second} version 1: does not decrypt" in result.output
    assert f"FAILED document {fourth} version 1: does not decrypt" in result.output
    assert f"FAILED document {first} version 1: does not decrypt" in result.output
    assert f"FAILED document {first} version 2: does not decrypt" in result.output
    assert f"FAILED document {third} version 1: blob is missing" in result.output
    assert "verified 0 of 5 blobs; 5 failed" in result.output


def test_verify_reports_a_blob_that_decrypts_to_other_content(app, cli, stocked):
    _, documents = stocked
    document_id, (version_id,) = documents[1]
    with app.app_context():
        db.session.get(DocumentVersion, version_id).digest = "0" * 64
        db.session.commit()
    result = cli("keys", "verify")
    assert result.exit_code == 1
    assert f"FAILED document {document_id} version 1: decrypts but does not match its digest" in result.output


# Free text and the audit trail's details ------------------------------------------------------------------

# Each column whose values rotation must carry over, with the SQL that reads them as stored, with the row's id
# and the identity the value is bound to (an audit event's seq, any other row's id).
FREE_TEXT = {
    "audit_events.details": "SELECT id, ref, details FROM audit_events",
    "meetings.title": "SELECT id, id, title FROM meetings",
    "meeting_templates.text": "SELECT id, id, text FROM meeting_templates",
    "sample_draws.reason": "SELECT id, id, reason FROM sample_draws",
}
MEETING = {"title": "Panel for Jo Bloggs", "held_on": ["18", "3", "2027"], "reading_deadline": ["4", "3", "2027"],
           "access_window_days": "30", "agenda": "1. Welcome", "terms_of_reference": "Our terms"}


def _stored_free_text(app) -> dict[tuple[str, int], tuple[int, str]]:
    with app.app_context():
        return {(column, row_id): (identity, value) for column, query in FREE_TEXT.items()
                for row_id, identity, value in db.session.execute(text(query)).all()}


def raw_free_text(app) -> dict[tuple[str, int], str]:
    """Every value of the free-text columns exactly as stored (ciphertext), by (column, row id)."""
    return {key: value for key, (_, value) in _stored_free_text(app).items()}


def readable_free_text(app) -> dict[tuple[str, int], str]:
    """The same values decrypted, as the portal reads them."""
    keyring = keyring_on_disk(app)
    return {(column, row_id): keyring.decrypt_row_field(column, identity, value)
            for (column, row_id), (identity, value) in _stored_free_text(app).items()}


@pytest.fixture
def with_free_text(app, client, stocked):
    """The Lead, signed in, has invited someone, made a meeting and changed the templates; a redraw has a reason."""
    people, _ = stocked
    sign_in(app, client, people[0])
    assert submit(client, "/admin/people/invite", {"name": "Priya Private", "email": "priya.private@example.org",
                                                   "role": "member", "organisation": "0"}).status_code == 302
    assert submit(client, "/meetings/new", MEETING).status_code == 302
    assert submit(client, "/meetings/templates", {"agenda": "1. Apologies from Jo Bloggs",
                                                  "terms_of_reference": "Our terms"}).status_code == 302
    make_moderated_portfolio(app, people[0].id, [None])
    with app.app_context():
        db.session.scalar(select(SampleDraw)).reason = "Jo Bloggs's Assessor sits on the panel"
        db.session.commit()
    return people


def test_rotation_reencrypts_free_text_and_audit_details_and_the_chain_still_verifies(app, client, cli,
                                                                                     with_free_text):
    before_raw, before = raw_free_text(app), readable_free_text(app)
    assert {column for column, _ in before} == set(FREE_TEXT)
    assert all(Keyring.field_key_id(value) == "k1" for value in before_raw.values())
    assert not any("Jo Bloggs" in value or "priya.private" in value for value in before_raw.values())

    result = cli("keys", "rotate", "--batch-size", "3")

    assert result.exit_code == 0, result.output
    after_raw = raw_free_text(app)
    for key, value in before_raw.items():
        assert value != after_raw[key] and Keyring.field_key_id(after_raw[key]) == "k2", key
    after = readable_free_text(app)
    assert {key: after[key] for key in before} == before
    with app.app_context():
        assert set(keys.usage().fields) == {"k2"}
    verified = cli("audit", "verify")
    assert verified.exit_code == 0 and "audit trail intact" in verified.output
    page = client.get("/admin/audit?action=invitation.sent").get_data(as_text=True)
    assert "email: priya.private@example.org; role: member" in page
    assert "Panel for Jo Bloggs" in client.get("/meetings").get_data(as_text=True)
    assert "1. Apologies from Jo Bloggs" in client.get("/meetings/new").get_data(as_text=True)


def test_rotation_killed_inside_the_audit_trail_resumes_and_the_chain_verifies_throughout(app, client, cli,
                                                                                        with_free_text,
                                                                                        monkeypatch):
    before = readable_free_text(app)
    seen: dict[tuple[str, int], str] = {}

    def crash(changed: int) -> None:
        audit_keys = [Keyring.field_key_id(v) for k, v in raw_free_text(app).items() if k[0] == "audit_events.details"]
        # keys.added is written under k2 before anything moves: stop once an older event has moved too.
        if audit_keys.count("k2") >= 2 and "k1" in audit_keys:
            seen.update(raw_free_text(app))
            raise RuntimeError("killed")

    monkeypatch.setattr(keys, "after_batch", crash)
    with pytest.raises(RuntimeError, match="killed"):
        cli("keys", "rotate", "--batch-size", "1")
    monkeypatch.setattr(keys, "after_batch", None)

    half = cli("audit", "verify")
    assert half.exit_code == 0, half.output  # details under two keys: the chain covers their plaintext
    assert "email: priya.private@example.org" in client.get("/admin/audit").get_data(as_text=True)
    assert "run `keys rewrap` (or `keys rotate`) to finish" in cli("keys", "status").output

    result = cli("keys", "rotate", "--batch-size", "1")

    assert result.exit_code == 0, result.output
    assert "resuming the unfinished rotation to key k2" in result.output and "rotation complete" in result.output
    assert set(keyring_on_disk(app).keys) == {"k1", "k2"}
    after_raw = raw_free_text(app)
    moved = {k: v for k, v in seen.items() if Keyring.field_key_id(v) == "k2"}
    assert moved and all(after_raw[k] == v for k, v in moved.items())  # not re-encrypted a second time
    assert all(Keyring.field_key_id(v) == "k2" for v in after_raw.values())
    after = readable_free_text(app)
    assert {key: after[key] for key in before} == before
    verified = cli("audit", "verify")
    assert verified.exit_code == 0 and "audit trail intact" in verified.output


def test_rotation_stops_with_a_clear_message_at_a_value_that_does_not_decrypt(app, cli, with_free_text):
    raw = raw_free_text(app)
    events = sorted(row_id for column, row_id in raw if column == "audit_events.details")
    victim, donor = events[-1], events[0]
    with app.app_context():  # a value copied from another column cannot be decrypted in this one
        db.session.execute(text("UPDATE audit_events SET details = :v WHERE id = :id"),
                           {"v": raw[("meetings.title", min(i for c, i in raw if c == "meetings.title"))],
                            "id": victim})
        db.session.commit()

    result = cli("keys", "rotate", "--batch-size", "1")

    assert result.exit_code == 1
    assert f"audit_events.details of the row with id {victim} does not decrypt" in result.output
    assert "audit verify" in result.output and "Traceback" not in result.output
    after = raw_free_text(app)
    assert Keyring.field_key_id(after[("audit_events.details", donor)]) == "k2"  # earlier batches are kept
    assert "run `keys rewrap` (or `keys rotate`) to finish" in cli("keys", "status").output


def test_rotation_stops_with_a_clear_message_at_a_data_key_that_does_not_unwrap(app, cli, stocked):
    with app.app_context():
        version = db.session.scalars(select(DocumentVersion).order_by(DocumentVersion.id)).first()
        version.wrapped_key = bytes(40)
        db.session.commit()
        version_id = version.id

    result = cli("keys", "rotate")

    assert result.exit_code == 1
    assert f"the data key of document version {version_id} does not unwrap under k1" in result.output
    assert "Traceback" not in result.output


def test_panel_copies_are_rewrapped_by_rotation_and_checked_by_verify(app, cli, stocked):
    _, documents = stocked
    (first, (v1, _)), (second, (v3,)) = documents[0], documents[1]
    copy_blob = add_panel_copy(app, v1, b"first draft without its author")
    other_copy = add_panel_copy(app, v3, b"observation notes without their author")
    with app.app_context():
        assert keys.usage().data_keys == {"k1": 7}  # five versions and two panel copies
        copy_file = blob_file(app, copy_blob)
        before = copy_file.read_bytes()

    result = cli("keys", "rotate", "--batch-size", "2")

    assert result.exit_code == 0 and "re-wrapped 7 data keys" in result.output
    with app.app_context():
        assert keys.usage().data_keys == {"k2": 7}
        assert {c.kek_id for c in db.session.scalars(select(PanelCopy))} == {"k2"}
        other_file = blob_file(app, other_copy)
    assert copy_file.read_bytes() == before  # blobs untouched
    assert "verified 7 of 7 blobs; 0 failed" in cli("keys", "verify").output
    tampered = bytearray(before)
    tampered[80] ^= 1
    copy_file.write_bytes(bytes(tampered))
    other_file.write_bytes(blob_path(app, v3).read_bytes())  # the original in place of its panel copy
    failed = cli("keys", "verify")
    assert failed.exit_code == 1 and "verified 5 of 7 blobs; 2 failed" in failed.output
    assert f"FAILED document {first} version 1: panel copy does not decrypt" in failed.output
    assert f"FAILED document {second} version 1: panel copy does not decrypt" in failed.output


def test_rotation_rewrites_each_batch_in_one_statement(app, cli, stocked, with_free_text):
    """Set-based batches: one statement per batch (PostgreSQL: an UPDATE from arrays of the new values; SQLite:
    one executemany), not one per row."""
    from helpers_queries import counting_statements

    with app.app_context():
        tables = len(keys.encrypted_tables())
    with counting_statements(app) as statements:
        result = cli("keys", "rotate", "--batch-size", "1000")

    assert result.exit_code == 0, result.output
    assert "re-wrapped 5 data keys" in result.output
    assert len([s for s in statements if s.startswith("UPDATE document_versions SET kek_id")]) == 1  # 5 keys
    assert len([s for s in statements if s.startswith("UPDATE document_versions SET filename")]) == 1  # and fields
    writes = [s for s in statements if s.startswith("UPDATE") and " SET " in s and "audit_head" not in s
              and "deployment" not in s and "key_checks" not in s]
    assert len(writes) <= len(keys.DATA_KEY_MODELS) + tables, writes
    assert cli("keys", "verify").exit_code == 0 and cli("audit", "verify").exit_code == 0
