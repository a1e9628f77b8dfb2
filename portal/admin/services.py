"""The ASYE Lead's administration of people and the audit trail. Each verb audits and commits once."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, String, and_, cast, delete, func, literal, or_, select, update
from sqlalchemy.orm import joinedload, undefer

from portal import audit, clock, mail, paging
from portal.admin.partnership import new_employer
from portal.auth import passkeys, sessions
from portal.auth.services import invitation_hours, new_link
from portal.extensions import db
from portal.models import (
    AccountLink,
    AuditEvent,
    LinkPurpose,
    Organisation,
    OrganisationKind,
    OutboxMessage,
    RecoveryCode,
    Role,
    User,
)
from portal.spreadsheet import csv_lines

PAGE_SIZE = paging.PAGE_SIZE  # the audit trail's pages are as long as every list's


def _people_query(actor: User, query: str, role: str, status: str) -> Select[User]:
    statement = select(User).where(actor.people_scope(User.role, User.organisation_id))
    if query.strip():
        # autoescape: a typed % or _ is a character to find, not a wildcard.
        needle = query.strip().lower()
        statement = statement.where(or_(func.lower(User.name).contains(needle, autoescape=True),
                                        User.email.contains(needle, autoescape=True)))
    if role:
        statement = statement.where(User.role == role)
    if status == "active":
        statement = statement.where(User.active, User.enrolled_at.is_not(None))
    elif status == "deactivated":
        statement = statement.where(~User.active)
    elif status == "not_set_up":
        statement = statement.where(User.enrolled_at.is_(None))
    return statement


def people(actor: User, query: str = "", role: str = "", status: str = "", page: int = 1) -> paging.Paged[User]:
    """The people this person looks after (User.manages_person) matching a search of name and email, optionally
    by role and status: one page, by name, with how many match in all (never silently cut)."""
    return paging.page_of(db.session, _people_query(actor, query, role, status).order_by(User.name, User.id), page)


def _unused_links() -> Select[AccountLink]:
    """The query behind the pending-link lookups: unused, unreplaced invitation and reset links, newest first."""
    return (select(AccountLink)
            .where(AccountLink.purpose.in_((LinkPurpose.INVITATION.value, LinkPurpose.RESET.value,
                                            LinkPurpose.FULL_RESET.value)))
            .where(AccountLink.used_at.is_(None), AccountLink.revoked_at.is_(None))
            .order_by(AccountLink.created_at.desc()))


def pending_links(actor: User) -> list[AccountLink]:
    """Invitations and reset links, for people this person looks after, sent but not yet used, newest first."""
    return list(db.session.scalars(_unused_links().where(actor.people_scope(AccountLink.role,
                                                                             AccountLink.organisation_id))))


def pending_link(actor: User, link_id: int) -> AccountLink | None:
    """An unused invitation or reset link, for someone this person looks after, by id."""
    return db.session.scalar(_unused_links().where(AccountLink.id == link_id,
                                                   actor.people_scope(AccountLink.role, AccountLink.organisation_id)))


def person_for(actor: User, user_id: int) -> User | None:
    """One person this person looks after, else None."""
    return db.session.scalar(select(User).where(User.id == user_id,
                                                actor.people_scope(User.role, User.organisation_id)))


def pending_link_for(user: User) -> AccountLink | None:
    """The person's newest unused set-up link (after a 2FA reset), if any."""
    return db.session.scalar(_unused_links().where(AccountLink.user_id == user.id).limit(1))


def organisations() -> list[Organisation]:
    """Every organisation, by name."""
    return list(db.session.scalars(select(Organisation).options(undefer(Organisation.code))
                                   .order_by(Organisation.name)))


def add_organisation(actor: User, name: str, kind: str) -> Organisation:
    """Register an employer (a new member of the partnership, with the next code), university or community group."""
    if kind == OrganisationKind.EMPLOYER.value:
        organisation = new_employer(name)
    else:
        organisation = Organisation(name=name.strip(), kind=kind)
        db.session.add(organisation)
    db.session.flush()
    audit.record(actor, "organisation.added", f"organisation:{organisation.id}", name=organisation.name,
                 kind=organisation.kind, code=organisation.code or "")
    db.session.commit()
    return organisation


def organisation_name_taken(name: str) -> bool:
    """True if an organisation already has this name (case-insensitive)."""
    return db.session.scalar(select(Organisation.id).where(func.lower(Organisation.name) == name.strip().lower())
                             ) is not None


def _revoke_links(user: User) -> None:
    """Revoke the person's unused emailed links (setting up from one would let them back in)."""
    db.session.execute(
        update(AccountLink)
        .where(AccountLink.user_id == user.id, AccountLink.used_at.is_(None), AccountLink.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


def deactivate(actor: User, user: User) -> None:
    """Stop a person signing in; their sessions and any unused links end at once."""
    user.active = False
    sessions.end_others(user)
    _revoke_links(user)
    audit.record(actor, "person.deactivated", f"user:{user.id}")
    db.session.commit()


def reactivate(actor: User, user: User) -> None:
    """Let a deactivated person sign in again."""
    user.active = True
    audit.record(actor, "person.reactivated", f"user:{user.id}")
    db.session.commit()


def change_role(actor: User, user: User, role: Role) -> None:
    """Change what a person may do; their sessions end so the change takes effect at once."""
    before = user.role
    user.role = role.value
    sessions.end_others(user)
    audit.record(actor, "permission.role_changed", f"user:{user.id}", before=before, after=role.value)
    db.session.commit()


def reset_two_factor(actor: User, user: User, forgot_password: bool = False) -> AccountLink:
    """For a lost phone or key: clear the authenticator, passkeys and recovery codes, end sessions, email a link.

    The link asks for the person's password and sets up a new authenticator. Only when the Lead says the person
    has forgotten their password too does it ask them to choose a new one instead; that rests on the email address
    alone, so the Lead checks who is asking first.
    """
    user.totp_secret = None
    user.totp_last_step = None
    user.enrolled_at = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    removed_passkeys = passkeys.remove_all(user)
    sessions.end_others(user)
    _revoke_links(user)
    hours = invitation_hours()
    purpose = LinkPurpose.FULL_RESET if forgot_password else LinkPurpose.RESET
    link, token = new_link(purpose, timedelta(hours=hours), user_id=user.id, email=user.email,
                            name=user.name, role=user.role, organisation_id=user.organisation_id,
                            created_by_id=actor.id)
    mail.queue(user.email, "Set up your moderation portal sign-in again", "reset",
               link_url=mail.external_url("auth.accept_link", token=token),
               hours=hours, keeps_password=not forgot_password and user.password_hash is not None)
    db.session.flush()
    audit.record(actor, "2fa.reset_by_admin", f"user:{user.id}", link=link.id, new_password=forgot_password,
                 passkeys_removed=removed_passkeys)
    db.session.commit()
    return link


# Emails not delivered ---------------------------------------------------------------------------------


def _undelivered() -> ColumnElement[bool]:
    """Not sent, and failed at least once (a message the Lead asked to retry keeps its last error until sent)."""
    return and_(OutboxMessage.sent_at.is_(None), or_(OutboxMessage.attempts > 0, OutboxMessage.last_error != ""))


def undelivered_mail() -> list[OutboxMessage]:
    """Messages that failed at least once and are not yet sent, oldest first."""
    return list(db.session.scalars(select(OutboxMessage).where(_undelivered()).order_by(OutboxMessage.id).limit(500)))


def undelivered_mail_count() -> int:
    """How many messages have failed and are still waiting."""
    return db.session.scalar(select(func.count()).select_from(OutboxMessage).where(_undelivered())) or 0


def undelivered_message(message_id: int) -> OutboxMessage | None:
    """One failed, unsent message by id."""
    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id, _undelivered()))


def retry_mail(actor: User, message: OutboxMessage) -> None:
    """Try a failed message again now, with a fresh allowance of attempts (the worker sends it within seconds)."""
    message.attempts = 0
    message.next_attempt_at = clock.now()
    audit.record(actor, "mail.retry_requested", f"outbox:{message.id}")
    db.session.commit()


# Audit trail ------------------------------------------------------------------------------------------


@dataclass
class AuditFilter:
    """What the administrator searched the audit trail for."""

    person_id: int | None = None  # one person (from their page)
    person: str = ""  # or everyone whose name or email address contains this (or whose email address it is)
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _people_matching(text: str) -> Select[int]:
    """The ids of the people a typed name or email address means: the one whose whole email address it is, if
    any; otherwise everyone whose name or email address contains it (autoescaped: % and _ are characters)."""
    needle = text.strip().lower()
    exact = select(User.id).where(func.lower(User.email) == needle)
    if "@" in needle and db.session.scalar(exact.limit(1)) is not None:
        return exact
    return select(User.id).where(or_(func.lower(User.name).contains(needle, autoescape=True),
                                     func.lower(User.email).contains(needle, autoescape=True)))


def _audit_query(criteria: AuditFilter) -> Select[AuditEvent]:
    """The chained events matching the filter (callers chain the waiting ones first: audit.chain_pending)."""
    statement = select(AuditEvent).options(joinedload(AuditEvent.actor)).where(AuditEvent.seq.is_not(None))
    if criteria.person_id or criteria.person.strip():
        ids = (select(User.id).where(User.id == criteria.person_id) if criteria.person_id
               else _people_matching(criteria.person))
        targets = select(literal("user:").concat(cast(User.id, String))).where(User.id.in_(ids))
        statement = statement.where(or_(AuditEvent.actor_id.in_(ids), AuditEvent.target.in_(targets)))
    if criteria.action:
        statement = statement.where(AuditEvent.action == criteria.action)
    if criteria.date_from:
        statement = statement.where(AuditEvent.at >= _start_of(criteria.date_from))
    if criteria.date_to:
        statement = statement.where(AuditEvent.at < _start_of(criteria.date_to) + timedelta(days=1))
    return statement


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.now().tzinfo)


def _any(statement: Select[AuditEvent]) -> bool:
    return bool(db.session.scalar(select(statement.exists())))


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit trail, newest first, and where the pages before and after it start (keyset paging
    on the events' sequence numbers: every page costs the same however deep in the trail it is)."""

    events: list[AuditEvent]
    newer: int | None  # the `after` of the page of newer events, if there is one
    older: int | None  # the `before` of the page of older events, if there is one


def audit_page(criteria: AuditFilter, before: int | None = None, after: int | None = None) -> AuditPage:
    """The PAGE_SIZE matching events older than `before` (or newer than `after`; else the newest), newest first."""
    audit.chain_pending()
    statement = _audit_query(criteria)
    if after is not None:
        rows = list(db.session.scalars(statement.where(AuditEvent.seq > after).order_by(AuditEvent.seq.asc())
                                       .limit(PAGE_SIZE + 1)))
        newer_exists, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE][::-1]
        older_exists = bool(rows) and _any(statement.where(AuditEvent.seq < rows[-1].seq))
    else:
        page = statement.where(AuditEvent.seq < before) if before is not None else statement
        rows = list(db.session.scalars(page.order_by(AuditEvent.seq.desc()).limit(PAGE_SIZE + 1)))
        older_exists, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
        newer_exists = before is not None and bool(rows) and _any(statement.where(AuditEvent.seq > rows[0].seq))
    return AuditPage(rows, rows[0].seq if newer_exists and rows else None,
                     rows[-1].seq if older_exists and rows else None)


def audit_actions() -> list[str]:
    """Every action name that has been recorded, for the filter: one index lookup per name (a recursive query
    that asks for the next name after the last), not a scan of every event as SELECT DISTINCT would make."""
    names = select(func.min(AuditEvent.action)).cte("names", recursive=True)
    following = select(func.min(AuditEvent.action)).where(AuditEvent.action > names.c.min).scalar_subquery()
    names = names.union_all(select(following).where(names.c.min.is_not(None)))
    return list(db.session.scalars(select(names.c.min).where(names.c.min.is_not(None)).order_by(names.c.min)))


def audit_csv(actor: User, criteria: AuditFilter) -> Iterator[str]:
    """Stream matching events as CSV; the export itself is audited first."""
    audit.record(actor, "audit.exported", "", filter=json.dumps(criteria.__dict__, default=str))
    db.session.commit()
    audit.chain_pending()
    header = ["seq", "time_utc", "actor_id", "actor_email", "action", "target", "details", "ip", "hash"]
    events = db.session.scalars(_audit_query(criteria).order_by(AuditEvent.seq.desc())
                                .execution_options(yield_per=500))
    yield from csv_lines([header])
    yield from csv_lines((event.seq, clock.as_utc(event.at).isoformat(timespec="seconds"), event.actor_id,
                          event.actor.email if event.actor else "", event.action, event.target, event.details,
                          event.ip, event.hash) for event in events)
