"""Typed SQLAlchemy models, one module per area. Importing this package registers every table."""

from portal.models.audit import AuditEvent, AuditHead
from portal.models.auth import AccountLink, LinkPurpose, SessionStage, SignInAttempt, UserSession
from portal.models.base import Base
from portal.models.mail import OutboxMessage
from portal.models.users import (
    ROLE_LABELS_FOR_FORMS,
    Organisation,
    OrganisationKind,
    RecoveryCode,
    Role,
    User,
)

__all__ = [
    "ROLE_LABELS_FOR_FORMS",
    "AccountLink",
    "AuditEvent",
    "AuditHead",
    "Base",
    "LinkPurpose",
    "Organisation",
    "OrganisationKind",
    "OutboxMessage",
    "RecoveryCode",
    "Role",
    "SessionStage",
    "SignInAttempt",
    "User",
    "UserSession",
]
