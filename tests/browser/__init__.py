"""Browser tests (Chromium through Playwright, with axe-core)."""
