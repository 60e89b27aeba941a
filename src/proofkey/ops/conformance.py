"""A black-box PKCE and OAuth 2.1 code-flow conformance battery for any provider: named checks
(RFC 7636, RFC 9700 §2.1.1 and §4, RFC 9207, RFC 8252 §7.3), run in order over HTTP, each a
result (pass, fail, warn, skip) with evidence that never holds a secret value.

The checks themselves live in ``conformance_checks`` (authorization endpoint) and
``conformance_token`` (token endpoint), the ``Check`` and ``Verdict`` types they share in
``verdicts``; the client side in ``conformance_probe``. A check is bounded in time; one that
raises is a failure with the error as evidence, never a crash of the battery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from .conformance_checks import AUTHORIZATION_CHECKS, CALLBACK_CHECKS, METADATA_CHECKS
from .conformance_probe import CheckConfig, NoCode, Probe
from .conformance_token import FINAL_CHECKS, TOKEN_CHECKS
from .login_driver import FormNavigator, LoginSettings, Navigator
from .verdicts import Check, Evidence, Result, Verdict, failed, passed, skipped, warned

__all__ = [
    "Check",
    "CheckConfig",
    "CheckResult",
    "Report",
    "Result",
    "Verdict",
    "all_checks",
    "failed",
    "passed",
    "run_battery",
    "skipped",
    "warned",
]

CHECK_TIMEOUT = 45.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    id: str
    title: str
    rfc: str
    result: Result
    evidence: Evidence
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "rfc": self.rfc, "result": self.result,
                "evidence": dict(self.evidence), "seconds": round(self.seconds, 3)}


@dataclass(frozen=True, slots=True)
class Report:
    issuer: str
    client_id: str
    redirect_uri: str
    results: tuple[CheckResult, ...]
    seconds: float

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.results if r.result == "fail")

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "warn": 0, "skip": 0}
        for r in self.results:
            counts[r.result] += 1
        return counts

    def by_id(self, check_id: str) -> CheckResult:
        return next(r for r in self.results if r.id == check_id)

    def to_dict(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "client_id": self.client_id,
                "redirect_uri": self.redirect_uri, "ok": self.ok, "counts": self.counts(),
                "seconds": round(self.seconds, 3),
                "checks": [r.to_dict() for r in self.results]}


def all_checks() -> tuple[Check, ...]:
    """Every check, in the order the battery runs them."""
    return (*METADATA_CHECKS, *AUTHORIZATION_CHECKS, *TOKEN_CHECKS, *CALLBACK_CHECKS,
            *FINAL_CHECKS)


async def run_battery(
    config: CheckConfig, login: LoginSettings | None = None, *,
    navigator: Navigator | None = None, transport: httpx.AsyncBaseTransport | None = None,
    checks: Sequence[Check] | None = None,
) -> Report:
    """Run ``checks`` (default: all) against the provider; never raises for its answers.

    Without a ``navigator`` the battery signs in with HTML forms over ``transport``.
    """
    started = time.monotonic()
    agent = navigator or FormNavigator(
        httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(config.timeout),
                          follow_redirects=False),
        login or LoginSettings())
    probe = Probe(config, agent, transport=transport)
    probe.remember(login.password if login else None)
    deadline = started + config.budget + (config.code_lifetime if config.slow else 0)
    results: list[CheckResult] = []
    try:
        for check in checks if checks is not None else all_checks():
            if time.monotonic() > deadline:
                # Not run is not passed: a battery cut short must not gate CI green.
                results.append(CheckResult(check.id, check.title, check.rfc, "fail", {
                    "error": f"not run: the battery's time budget ({config.budget:.0f} s) "
                             "is spent"}, 0.0))
                continue
            results.append(await _run_one(check, probe, results))
    finally:
        await agent.aclose()
        await probe.aclose()
    return Report(config.issuer, config.client_id, config.redirect_uri, tuple(results),
                  time.monotonic() - started)


async def _run_one(check: Check, probe: Probe, done: Sequence[CheckResult]) -> CheckResult:
    started = time.monotonic()
    verdict = _precondition(check, probe, done)
    if verdict is None:
        limit = CHECK_TIMEOUT + (probe.config.code_lifetime if check.slow else 0)
        try:
            verdict = await asyncio.wait_for(check.run(probe), limit)
        except NoCode as exc:
            verdict = warned(inconclusive=str(exc))
        except TimeoutError:
            verdict = failed(error=f"the check did not finish within {limit:.0f} s")
        except Exception as exc:  # the provider's answers must never crash the battery
            verdict = failed(error=f"{type(exc).__name__}: {exc}")
    evidence = {k: probe.redact(v) if isinstance(v, str) else v
                for k, v in verdict.evidence.items()}
    return CheckResult(check.id, check.title, check.rfc, verdict.result, evidence,
                       time.monotonic() - started)


def _precondition(check: Check, probe: Probe, done: Sequence[CheckResult]) -> Verdict | None:
    if check.slow and not probe.config.slow:
        return skipped("slow check: run with --slow")
    if check.needs == "nothing":
        return None
    if probe.raw_metadata == {}:
        return skipped("the provider's metadata could not be read")
    if check.needs == "flow" and probe.baseline is None:
        baseline = next((r for r in done if r.id == "flow.baseline"), None)
        return skipped("the baseline flow did not complete" if baseline else
                       "needs the baseline flow")
    return None
