"""Typed SQLAlchemy models, one module per area. Importing this package registers every table."""

from portal.models.audit import AuditEvent, AuditHead
from portal.models.auth import AccountLink, LinkPurpose, SessionStage, SignInAttempt, UserSession
from portal.models.base import Base
from portal.models.deployment import Deployment, KeyCheck
from portal.models.documents import (
    DEFAULT_EVIDENCE_REQUIREMENTS,
    LEGACY_CLEANING_LABEL,
    Cleaning,
    Document,
    DocumentVersion,
    EvidenceType,
    PanelCopy,
    ReadReceipt,
)
from portal.models.jobs import JobRun, ReminderSent
from portal.models.mail import OutboxMessage
from portal.models.meetings import (
    Attendance,
    Meeting,
    MeetingMember,
    MeetingTemplate,
    PanelRole,
    SampledPortfolio,
    SampleDraw,
    TemplateKind,
)
from portal.models.portfolios import Assessor, Cohort, Nqsw, Outcome, Portfolio, Service
from portal.models.reading import PageRead, ReadingNote, ReadingPreferences
from portal.models.reports import (
    Action,
    ActionStatus,
    FeedbackRecipient,
    FeedbackRelease,
    KeyMessage,
    MeetingTheme,
    Minutes,
    MinutesRevision,
    MinutesStatus,
    Theme,
)
from portal.models.reviews import Agreement, Assessment, AssessmentStatus, AssessmentTemplate, PanelView
from portal.models.users import (
    ROLE_LABELS_FOR_FORMS,
    Organisation,
    OrganisationKind,
    RecoveryCode,
    Role,
    User,
)

__all__ = [
    "DEFAULT_EVIDENCE_REQUIREMENTS",
    "LEGACY_CLEANING_LABEL",
    "ROLE_LABELS_FOR_FORMS",
    "AccountLink",
    "Action",
    "ActionStatus",
    "Agreement",
    "Assessment",
    "AssessmentStatus",
    "AssessmentTemplate",
    "Assessor",
    "Attendance",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Cleaning",
    "Cohort",
    "Deployment",
    "Document",
    "DocumentVersion",
    "EvidenceType",
    "FeedbackRecipient",
    "FeedbackRelease",
    "JobRun",
    "KeyCheck",
    "KeyMessage",
    "LinkPurpose",
    "Meeting",
    "MeetingMember",
    "MeetingTemplate",
    "MeetingTheme",
    "Minutes",
    "MinutesRevision",
    "MinutesStatus",
    "Nqsw",
    "Organisation",
    "OrganisationKind",
    "OutboxMessage",
    "Outcome",
    "PageRead",
    "PanelCopy",
    "PanelRole",
    "PanelView",
    "Portfolio",
    "ReadReceipt",
    "ReadingNote",
    "ReadingPreferences",
    "RecoveryCode",
    "ReminderSent",
    "Role",
    "SampleDraw",
    "SampledPortfolio",
    "Service",
    "SessionStage",
    "SignInAttempt",
    "TemplateKind",
    "Theme",
    "User",
    "UserSession",
]
