"""Employer scoping, deny by default: an employer Lead reaches nothing of another employer (DESIGN section 3).

The portal's whole URL map is walked as the Lead of one employer, with the ids of another employer's meetings,
portfolios, documents, versions, draws, people, registry entries, invitations and emails (helpers_pages'
journey, whose every portfolio belongs to other employers). Every request must answer 404, or a page (or
download) that names none of the other employers' people or the employers themselves; a POST to an id-bearing
route that is not a 404 must change nothing (no audit event). A rule whose arguments the walk cannot fill fails
the test, so a new route is checked as soon as it exists.
"""

import itertools
import json
from collections.abc import Iterator

from conftest import csrf_from, sign_in, submit
from factories import add_passkey, make_employer
from flask import Flask
from helpers_auth import lead_of
from helpers_pages import build_journey
from sqlalchemy import func, select

from portal import clock
from portal.extensions import db
from portal.models import (
    AccountLink,
    Action,
    Assessor,
    AuditEvent,
    KeptForm,
    KeyMessage,
    MeetingMember,
    MeetingTheme,
    Nqsw,
    Organisation,
    OutboxMessage,
    Passkey,
    Portfolio,
    ReadingNote,
    User,
)

# Endpoints that act only on the signed-in person's own account or session, walked by GET only: a POST there
# (a new password, signing out) changes the Lead's own account, which is theirs to change.
OWN_ACCOUNT_POSTS = {"auth.sign_out", "auth.password", "auth.authenticator", "auth.confirm_authenticator",
                     "auth.recovery_codes", "auth.sign_out_others", "auth.security_code"}


def _candidates(app: Flask, journey) -> dict[str, list]:
    """Ids of other employers' things, by URL argument name."""
    with app.app_context():
        def ids(statement) -> list[int]:
            return list(db.session.scalars(statement))[:3]

        link = db.session.scalar(select(AccountLink.id).where(AccountLink.used_at.is_(None)).limit(1))
        return {
            "meeting_id": [journey.earlier_id, journey.meeting_id, journey.upcoming_id],
            "portfolio_id": [journey.portfolio_ids[0], journey.upcoming_portfolio_ids[0]],
            "document_id": journey.document_ids[:2],
            "version_id": journey.version_ids[:2],
            "draw_id": journey.draw_ids,
            "user_id": [journey.lead.id, journey.member.id, journey.nqsw.id, journey.assessor.id],
            "nqsw_id": [journey.nqsw_record_id],
            "assessor_id": [journey.assessor_record_id],
            "link_id": [link] if link else [],
            "message_id": ids(select(OutboxMessage.id)) + ids(select(KeyMessage.id)),
            "member_id": ids(select(MeetingMember.id)),
            "action_id": ids(select(Action.id)),
            "item_id": ids(select(MeetingTheme.id)),
            "theme_id": [journey.theme_id],
            "note_id": ids(select(ReadingNote.id)),
            "kept_id": ids(select(KeptForm.id)),
            "passkey_id": ids(select(Passkey.id)),
            "kind": ["pdf", "docx"],
            "section_key": ["part1"],
            "name": ["evidence_comment"],
            "token": ["not-a-link-the-portal-made"],
        }


def _values(arguments: frozenset[str], candidates: dict[str, list]) -> Iterator[dict]:
    names = sorted(arguments)
    missing = [name for name in names if not candidates.get(name)]
    assert not missing, f"the walk has no ids for {missing}: add them to _candidates"
    combinations = itertools.product(*(candidates[name] for name in names))
    yield from ({name: value for name, value in zip(names, combo, strict=True)}
                for combo in itertools.islice(combinations, 12))


def _secrets(app: Flask, own_employer: int) -> list[str]:
    """What no page may show the Lead: other employers' names and their people's names and emails."""
    with app.app_context():
        found: set[str] = set()
        for nqsw in db.session.scalars(select(Nqsw).where(Nqsw.employer_id != own_employer)):
            found |= {nqsw.name, nqsw.email}
        for assessor in db.session.scalars(select(Assessor).where(Assessor.organisation_id != own_employer)):
            found |= {assessor.name, assessor.email}
        for user in db.session.scalars(select(User).where((User.organisation_id != own_employer)
                                                          | User.organisation_id.is_(None))):
            found |= {user.name, user.email}
        for link in db.session.scalars(select(AccountLink).where((AccountLink.organisation_id != own_employer)
                                                                 | AccountLink.organisation_id.is_(None))):
            found |= {link.name, link.email} - {""}
        found |= set(db.session.scalars(select(Organisation.name).where(Organisation.id != own_employer)))
        return sorted(found)


def _audit_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(AuditEvent.id))) or 0


def test_every_endpoint_hides_another_employers_things_from_an_employer_lead(app: Flask, make_user) -> None:
    journey = build_journey(app, make_user)
    admin = app.test_client()
    sign_in(app, admin, journey.lead)
    # A pending invitation for another employer's NQSW, for the resend route.
    with app.app_context():
        other_employer = db.session.scalar(select(Nqsw.employer_id).where(Nqsw.id == journey.nqsw_record_id))
    assert submit(admin, "/admin/people/invite", {"name": "Pat Pending", "email": "pat@example.org", "role": "nqsw",
                                                  "organisation": other_employer}).status_code == 302
    with app.app_context():  # a private reading note of the Chair's, for the notes' routes
        db.session.add(ReadingNote(user_id=journey.chair.id, document_id=journey.document_ids[0], page=None,
                                   body="Checked the supervision dates", created_at=clock.now(),
                                   updated_at=clock.now()))
        # A form the administrator sent after their session had ended, for the kept forms' route.
        db.session.add(KeptForm(user_id=journey.lead.id, action="/cohort", return_to="/cohort", created_at=clock.now(),
                                content=json.dumps({"title": "Add a cohort", "fields": [["name", "Kept cohort"]]})))
        db.session.commit()
    add_passkey(app, journey.member.id)  # another person's security key, for the passkeys' routes
    own = make_employer(app, "Riverside Care")
    lead, _ = lead_of(app, make_user, own, name="Rita Riverside")
    assert submit(lead, "/cohort/nqsws/new", {"name": "Ria Own", "email": "ria@example.org", "employer": own,
                                              "cohort": 0, "service": "adults"}).status_code == 302
    with app.app_context():
        ria = db.session.scalar(select(Nqsw.id).where(Nqsw.email == "ria@example.org"))
    assert submit(lead, "/cohort/portfolios/new", {"nqsw": ria, "assessor": 0, "outcome": ""}).status_code == 302

    secrets = _secrets(app, own)
    assert any(s.startswith("Nqsw Fictional") for s in secrets) and "Pat Pending" in secrets
    assert journey.lead.name in secrets
    # The walk can see a leak: the administrator's pages show these names.
    assert "Nqsw Fictional" in admin.get("/cohort/nqsws").get_data(as_text=True)
    assert "Pat Pending" in admin.get("/admin/people").get_data(as_text=True)

    candidates = _candidates(app, journey)
    token = csrf_from(lead.get("/account/password").get_data(as_text=True))
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    problems: list[str] = []
    requests = 0
    for rule in rules:
        for values in _values(frozenset(rule.arguments), candidates):
            with app.test_request_context():
                path = app.url_map.bind("localhost").build(rule.endpoint, values)
            methods = [m for m in ("GET", "POST") if m in (rule.methods or ())]
            if rule.endpoint in OWN_ACCOUNT_POSTS:
                methods = [m for m in methods if m == "GET"]
            for method in methods:
                before = _audit_count(app) if method == "POST" else 0
                response = (lead.get(path) if method == "GET"
                            else lead.post(path, data={"csrf_token": token, "reason": "x", "name": "x"}))
                body = response.get_data()
                response.close()
                requests += 1
                if response.status_code == 404:
                    continue
                text = body.decode("utf-8", "replace")
                shown = [s for s in secrets if s in text]
                if shown:
                    problems.append(f"{method} {path} ({response.status_code}) shows {shown[:3]}")
                if response.status_code >= 500:
                    problems.append(f"{method} {path} answered {response.status_code}")
                if rule.arguments and rule.endpoint.split(".")[0] not in ("auth", "pages"):
                    problems.append(f"{method} {path} answered {response.status_code}, not 404")
                if method == "POST" and rule.arguments and _audit_count(app) != before:
                    problems.append(f"POST {path} ({response.status_code}) changed something")
    # Searches and exports that take their ids and words from the query string.
    other = journey.portfolio_ids[0]
    for path in (f"/documents/readiness?portfolio={other}", f"/documents/readiness?portfolio={other}&format=csv",
                 "/documents/readiness?format=csv", "/admin/people?q=Fictional", "/admin/people?q=example.org",
                 "/admin/people?role=member", f"/admin/audit?person={journey.member.id}", "/admin/audit.csv"):
        response = lead.get(path)
        text = response.get_data(as_text=True)
        requests += 1
        if response.status_code != 404 and any(s in text for s in secrets):
            problems.append(f"GET {path} ({response.status_code}) shows {[s for s in secrets if s in text][:3]}")
    assert lead.get(f"/documents/readiness?portfolio={other}").status_code == 404
    assert requests > 150
    assert problems == [], "\n".join(problems)
    # And the Lead does see their own: the scope is not simply empty.
    assert "Ria Own" in lead.get("/cohort/nqsws").get_data(as_text=True)
    assert "Ria Own" in lead.get("/portfolios").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Portfolio.id))) > 1
