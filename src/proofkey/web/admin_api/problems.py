"""RFC 9457 problem details: every refusal of the admin API, as ``application/problem+json``.

``type`` is ``urn:proofkey:problem:<slug>`` (the slugs are listed in docs/admin.md); ``detail``
says what to fix and never repeats a credential or a secret; ``errors`` lists each invalid
field by JSON Pointer; ``rule`` names the ``proofkey lint`` rule a client broke.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import Response

__all__ = ["PROBLEM_TYPE", "FieldError", "Problem", "problem_response"]

PROBLEM_TYPE = "urn:proofkey:problem:"
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed",
           413: "Content Too Large", 415: "Unsupported Media Type",
           422: "Unprocessable Content", 428: "Precondition Required",
           500: "Internal Server Error", 503: "Service Unavailable"}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

FieldError = tuple[str, str]  # (JSON Pointer, what is wrong)


class Problem(Exception):
    """A refusal with its status, slug and public detail."""

    def __init__(self, status: int, slug: str, detail: str, *,
                 errors: Sequence[FieldError] = (), rule: str = "",
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = tuple(errors)
        self.rule = rule
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": PROBLEM_TYPE + self.slug,
                                "title": _TITLES.get(self.status, "Error"),
                                "status": self.status, "detail": self.detail}
        if self.errors:
            body["errors"] = [{"pointer": p, "detail": d} for p, d in self.errors]
        if self.rule:
            body["rule"] = self.rule
        return body


def problem_response(problem: Problem) -> Response:
    return Response(json.dumps(problem.body()), status_code=problem.status,
                    media_type="application/problem+json",
                    headers={**_NO_STORE, **problem.headers})
