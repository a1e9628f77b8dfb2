"""The admin area: people, invitations, organisations, undelivered email and the audit trail."""
