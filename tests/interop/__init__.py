"""Third-party OAuth clients against a real ``proofkey serve`` process."""
