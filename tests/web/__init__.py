"""A real browser (Chromium through Playwright) against a real ``proofkey serve`` process."""
