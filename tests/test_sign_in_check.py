"""The sign-in check before a meeting: the invitation asks for it, the Chair sees who has and with what, and can
remind the rest; a member who has lost every factor is told how to get help."""

from datetime import date, timedelta

from conftest import csrf_from, outbox, sign_in, submit
from factories import add_passkey, make_panel
from sqlalchemy import delete, select

from portal import clock
from portal.extensions import db
from portal.models import AuditEvent, Meeting, MeetingMember, RecoveryCode, Role, User


def _record(client, meeting_id: int) -> str:
    return client.get(f"/reviews/meetings/{meeting_id}/record").get_data(as_text=True)


def _row(page: str, name: str) -> str:
    start = page.index(f">{name}<", page.index('id="signing-in"'))
    return page[start:page.index("</tr>", start)]


def test_the_meeting_invitation_asks_members_to_sign_in_once_before_the_reading_deadline(app, admin_client,
                                                                                          make_user):
    client, _ = admin_client
    member = make_user(Role.MEMBER)
    panel = make_panel(app, [(admin_client[1].id, "chair")], title="Review of Jane Smith's portfolio")
    with app.app_context():
        db.session.get(Meeting, panel.meeting_id).reading_deadline = date(2026, 12, 3)
        db.session.commit()
    response = submit(client, f"/meetings/{panel.meeting_id}/members", {"person": member.id, "panel_role": "member"})
    assert response.status_code == 302
    body = [m for m in outbox(app) if m.recipient == member.email][-1].body
    assert "Please sign in once before 3 December 2026, to check that your sign-in works" in body
    assert "https://portal.test/sign-in/help" in body and "Jane Smith" not in body
    with app.app_context():
        seat = db.session.scalar(select(MeetingMember).where(MeetingMember.user_id == member.id))
        assert abs(seat.added_at - clock.now()) < timedelta(minutes=1)


def test_the_chair_sees_who_has_signed_in_since_being_added_and_with_which_factors(app, signed_in, make_user):
    chair, chair_person = signed_in(Role.MEMBER, name="Chair Fictional")
    _, early_person = signed_in(Role.MEMBER, name="Early Bird")  # signed in before being added
    late = make_user(Role.MEMBER, name="Lost Phone")
    clock.advance(timedelta(minutes=5))
    panel = make_panel(app, [(chair_person.id, "chair"), (early_person.id, "member"), (late.id, "member")])
    with app.app_context():  # the Lead reset Lost Phone's sign-in: no authenticator, no recovery codes
        user = db.session.get(User, late.id)
        user.enrolled_at = None
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == late.id))
        db.session.commit()
    page = _record(chair, panel.meeting_id)
    assert "Signing in before the meeting" in page
    assert "Not yet" in _row(page, "Early Bird") and "Not yet" in _row(page, "Lost Phone")
    assert "None: needs the ASYE Lead to reset their sign-in" in _row(page, "Lost Phone")
    clock.advance(timedelta(minutes=5))
    sign_in(app, app.test_client(), early_person)  # now they check their sign-in works
    with app.app_context():
        db.session.add(RecoveryCode(user_id=early_person.id, key_id="k", code_hash="x" * 64))
        db.session.commit()
    page = _record(chair, panel.meeting_id)
    row = _row(page, "Early Bird")
    assert "Signed in " in row and "Not yet" not in row and "Authenticator app, 1 recovery code" in row
    assert "Remind them to sign in" in page


def test_the_chair_sees_passkeys_and_security_keys_among_the_factors(app, signed_in, make_user):
    chair, chair_person = signed_in(Role.MEMBER, name="Chair Fictional")
    keys_only = make_user(Role.MEMBER, name="Keys Only")  # enrolled with a security key: no authenticator app
    both = make_user(Role.MEMBER, name="App And Key")
    panel = make_panel(app, [(chair_person.id, "chair"), (keys_only.id, "member"), (both.id, "member")])
    with app.app_context():
        db.session.get(User, keys_only.id).totp_secret = None
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id.in_([keys_only.id, both.id])))
        db.session.commit()
    add_passkey(app, keys_only.id, "Blue security key")
    add_passkey(app, keys_only.id, "Work laptop")
    add_passkey(app, both.id)
    page = _record(chair, panel.meeting_id)
    keys_row, both_row = _row(page, "Keys Only"), _row(page, "App And Key")
    assert "2 passkeys or security keys" in keys_row and "Authenticator app" not in keys_row
    assert "None: needs" not in keys_row
    assert "Authenticator app, 1 passkey or security key" in both_row


def test_the_chair_reminds_only_those_who_have_not_signed_in(app, signed_in, make_user):
    chair_person = make_user(Role.MEMBER, name="Chair Fictional")
    waiting = make_user(Role.MEMBER, name="Not Yet Signed")
    ready = make_user(Role.MEMBER, name="Already Signed")
    panel = make_panel(app, [(chair_person.id, "chair"), (waiting.id, "member"), (ready.id, "member")],
                         title="Panel for Jo Bloggs")
    clock.advance(timedelta(minutes=1))
    chair, ready_client = app.test_client(), app.test_client()
    sign_in(app, ready_client, ready)
    sign_in(app, chair, chair_person)
    before = len(outbox(app))
    page = _record(chair, panel.meeting_id)
    response = chair.post(f"/reviews/meetings/{panel.meeting_id}/record/sign-in-reminders",
                          data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302 and response.headers["Location"].endswith("#signing-in")
    sent = outbox(app)[before:]
    assert [m.recipient for m in sent] == [waiting.email]
    assert f"https://portal.test/meetings/{panel.meeting_id}" in sent[0].body
    assert "https://portal.test/sign-in/help" in sent[0].body and "Jo Bloggs" not in sent[0].body
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "meeting.sign_in_reminder_sent"))
        assert event.actor_id == chair_person.id
    # A member who is not the Chair cannot send it (the record is the Chair's): 404.
    other = ready_client.post(f"/reviews/meetings/{panel.meeting_id}/record/sign-in-reminders",
                              data={"csrf_token": csrf_from(ready_client.get("/account").get_data(as_text=True))})
    assert other.status_code == 404
    assert len(outbox(app)) == before + 1


def test_someone_who_has_lost_every_factor_is_told_plainly_how_to_get_help(app, client):
    page = client.get("/sign-in/help").get_data(as_text=True)
    assert "If you have lost your phone and your recovery codes" in page
    assert "Contact your\n  ASYE Lead" in page or "Contact your ASYE Lead" in " ".join(page.split())
    assert "/sign-in/help" in client.get("/sign-in").get_data(as_text=True)
