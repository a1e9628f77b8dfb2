"""Subject access (UK GDPR article 15): the Lead's export of everything the portal holds about one person."""
