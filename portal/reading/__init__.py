"""The reading view: documents as accessible HTML, page-by-page progress, reading preferences, private notes."""
