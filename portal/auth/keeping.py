"""No lost work when a session ends: forms sent after it ended are kept until the person signs in again.

A form that holds long typing (an assessment section, the minutes) carries a sealed hidden field, `portal_keep`,
made while the person was signed in: it names the person, where the form is sent and the page it is on, and
when it was made, encrypted with the field key (so it cannot be forged or moved to another form). When such a
form arrives after the session has ended, the gate hands it here: what was typed is encrypted and kept for that
person only (`kept_forms`), and after signing in again they see it on *Unsaved work* and save it with one button
(the same form, sent again, so every check of the page applies), or discard it.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from portal import audit, clock
from portal.extensions import db, rows_affected
from portal.models import KeptForm, User
from portal.security import crypto

KEEP_FIELD = "portal_keep"  # the sealed hidden field of a form whose typing is kept
KEPT_FIELD = "portal_kept"  # the kept form's id, in the form that saves it again
SEAL_LABEL = "kept form v1"
SEAL_HOURS = 24  # a page older than this (longer than any session) no longer keeps what is sent from it
MAX_KEPT = 20  # kept forms per person; the oldest goes when a new one would pass this
NOT_KEPT = {"csrf_token", KEEP_FIELD, KEPT_FIELD}


@dataclass(frozen=True)
class Kept:
    """A kept form, opened for the person it belongs to."""

    id: int
    title: str
    action: str
    return_to: str
    fields: list[tuple[str, str]]
    created_at: datetime

    @property
    def typed(self) -> list[str]:
        """The text the person typed (non-empty values), for showing them what was kept."""
        return [value for _name, value in self.fields if value.strip()]


def keep_days() -> int:
    """How many days a kept form waits for its person (KEPT_FORM_DAYS)."""
    return int(current_app.config["KEPT_FORM_DAYS"])


def seal(user: User, action: str, return_to: str, title: str) -> str:
    """The hidden field's value for a form on a page the person is signed in to."""
    payload = json.dumps([user.id, action, return_to, title, int(clock.now().timestamp())])
    return crypto.installed().encrypt_field(SEAL_LABEL, payload)


def _open_seal(sealed: str, action: str) -> tuple[int, str, str] | None:
    """(user id, page, title) from a sealed field sent to `action`, or None if forged, moved or too old."""
    try:
        user_id, sealed_action, return_to, title, issued = json.loads(
            crypto.installed().decrypt_field(SEAL_LABEL, sealed))
    except (crypto.DecryptionError, crypto.KeyringError, ValueError, TypeError):
        return None
    age = clock.now().timestamp() - int(issued)
    if sealed_action != action or not 0 <= age <= SEAL_HOURS * 3600:
        return None
    return int(user_id), str(return_to), str(title)


def keep(sealed: str, action: str, fields: list[tuple[str, str]]) -> int | None:
    """Keep what was typed into a form sent after its session ended; return the kept form's id, or None.

    Only a form carrying a genuine seal for this very action is kept, and only for the person the seal names.
    """
    opened = _open_seal(sealed, action)
    if opened is None:
        return None
    user_id, return_to, title = opened
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return None
    typed = [(name, value) for name, value in fields if name not in NOT_KEPT]
    kept = KeptForm(user_id=user.id, action=action, return_to=return_to, created_at=clock.now(),
                    content=json.dumps({"title": title, "fields": typed}))
    db.session.add(kept)
    count = db.session.scalar(select(func.count()).select_from(KeptForm).where(KeptForm.user_id == user.id)) or 0
    if count > MAX_KEPT:
        oldest = select(KeptForm.id).where(KeptForm.user_id == user.id).order_by(KeptForm.id).limit(count - MAX_KEPT)
        db.session.execute(delete(KeptForm).where(KeptForm.id.in_(oldest.scalar_subquery())))
    db.session.flush()
    audit.record(user, "session.form_kept", f"user:{user.id}", kept=kept.id, sent_to=action)
    db.session.commit()
    return kept.id


def _opened(row: KeptForm) -> Kept:
    content = json.loads(row.content)
    return Kept(row.id, content["title"], row.action, row.return_to,
                [(str(name), str(value)) for name, value in content["fields"]], row.created_at)


def kept_for(user: User) -> list[Kept]:
    """The person's kept forms, oldest first (only those still within KEPT_FORM_DAYS)."""
    since = clock.now() - timedelta(days=keep_days())
    rows = db.session.scalars(select(KeptForm).where(KeptForm.user_id == user.id, KeptForm.created_at > since)
                              .order_by(KeptForm.id))
    return [_opened(row) for row in rows]


def _own(user: User, kept_id: int) -> KeptForm | None:
    return db.session.scalar(select(KeptForm).where(KeptForm.id == kept_id, KeptForm.user_id == user.id))


def discard(user: User, kept_id: int) -> bool:
    """Delete one of the person's kept forms at their request; False if it is not theirs (or gone)."""
    row = _own(user, kept_id)
    if row is None:
        return False
    db.session.delete(row)
    audit.record(user, "session.kept_form_discarded", f"user:{user.id}", kept=kept_id)
    db.session.commit()
    return True


def saved(user: User, kept_id: int) -> None:
    """The kept form was sent again and accepted: it is no longer needed."""
    row = _own(user, kept_id)
    if row is not None:
        db.session.delete(row)
        audit.record(user, "session.kept_form_saved", f"user:{user.id}", kept=kept_id)
        db.session.commit()


def prune() -> int:
    """Delete kept forms older than KEPT_FORM_DAYS; return how many."""
    since = clock.now() - timedelta(days=keep_days())
    gone = rows_affected(db.session.execute(delete(KeptForm).where(KeptForm.created_at <= since)))
    db.session.commit()
    return gone
