"""Scrape and compare Prometheus text: what the ops tests read from /metrics.

Import ``quiet_test_client`` into a test module to apply it there (an autouse fixture)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[str, frozenset[tuple[str, str]]]


def parse(text: str) -> dict[Sample, float]:
    """Every sample of an exposition, keyed by (sample name, label set)."""
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


async def scrape(http: httpx.AsyncClient, path: str = "/metrics") -> dict[Sample, float]:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def key(name: str, **labels: str) -> Sample:
    return (name, frozenset(labels.items()))


def deltas(before: Mapping[Sample, float], after: Mapping[Sample, float], *,
           prefix: str = "proofkey_") -> dict[Sample, float]:
    """Changed proofkey samples (histogram buckets and sums left out: timing-dependent)."""
    changed = {}
    for sample, value in after.items():
        name = sample[0]
        if not name.startswith(prefix) or name.endswith(("_bucket", "_sum")):
            continue
        diff = value - before.get(sample, 0.0)
        if diff:
            changed[sample] = diff
    return changed


def show(samples: Mapping[Sample, float]) -> str:
    return "\n".join(f"{name}{dict(sorted(labels))} {value:+g}"
                     for (name, labels), value in sorted(samples.items(),
                                                         key=lambda i: (i[0][0], sorted(i[0][1]))))


@pytest.fixture(autouse=True)
def quiet_test_client() -> Iterator[None]:
    """The test's own HTTP client logs request URLs at INFO through the same root logger; only
    the server's logging is judged (and counted by M6), so the client is kept quiet."""
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
