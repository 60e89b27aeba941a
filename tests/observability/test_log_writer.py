"""Queued log writing: callers never wait on the stream, drops are counted and noted, close()
writes everything queued, and a failing stream is counted instead of raised."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proofkey.observability.log_writer import LogWriter, QueuedHandler, lines_dropped
from proofkey.observability.logs import AuditEntry, configure_logging, stop_log_writer
from proofkey.settings import Settings
from proofkey.web.app import create_app
from tests.observability.scrape import key, parse

JOIN = 30.0  # generous: the calls must return at all, no speed is claimed


class GatedStream(io.StringIO):
    """A stream whose writes wait until ``gate`` opens (a pipe nobody reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def write(self, s: str) -> int:
        self.entered.set()
        self.gate.wait()
        return super().write(s)


class BrokenStream(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("proofkey.test.log_writer")
    log.propagate = False
    log.setLevel(logging.INFO)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    log.propagate = True


def attach(log: logging.Logger, stream: io.StringIO, max_lines: int) -> QueuedHandler:
    handler = QueuedHandler(LogWriter(stream, max_lines=max_lines), stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    return handler


def in_thread(work: object) -> None:
    """Run ``work`` in a thread and require that it returns (within ``JOIN``)."""
    assert callable(work)
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(JOIN)
    assert not thread.is_alive(), "a logging call waited on a blocked stream"


def test_a_blocked_stream_never_blocks_the_caller_and_drops_are_counted_and_noted(
        logger: logging.Logger) -> None:
    stream = GatedStream()
    handler = attach(logger, stream, max_lines=5)
    before = lines_dropped()
    logger.info("line 0")
    assert stream.entered.wait(JOIN)  # the writer now hangs in a write of line 0

    in_thread(lambda: [logger.info("line %d", i) for i in range(1, 21)])
    assert lines_dropped() - before == 15  # 5 queued behind line 0, the rest dropped

    stream.gate.set()
    assert handler.writer.close()
    *written, note = stream.getvalue().splitlines()
    assert written == [f"line {i}" for i in range(6)]
    entry = json.loads(note)
    assert entry["level"] == "warning"
    assert entry["logger"] == "proofkey.logs"
    assert "dropped 15 log lines" in entry["msg"]


def test_close_writes_everything_queued_in_order(logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = attach(logger, stream, max_lines=10_000)
    before = lines_dropped()
    for i in range(2000):
        logger.info("line %d", i)
    assert handler.writer.close()
    assert stream.getvalue().splitlines() == [f"line {i}" for i in range(2000)]
    assert lines_dropped() == before


def test_streams_sharing_a_writer_each_get_their_lines_in_order() -> None:
    log, audit = io.StringIO(), io.StringIO()
    writer = LogWriter(log, max_lines=1000)
    for i in range(300):
        writer.put(audit if i % 3 == 0 else log, f"{i}\n")
    assert writer.close()
    assert audit.getvalue().split() == [str(i) for i in range(300) if i % 3 == 0]
    assert log.getvalue().split() == [str(i) for i in range(300) if i % 3]


def test_flush_waits_for_the_lines_queued_so_far(logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = attach(logger, stream, max_lines=100)
    logger.info("first")
    assert handler.writer.flush(timeout=JOIN)
    assert stream.getvalue() == "first\n"


def test_lines_after_close_are_written_by_the_caller(logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = attach(logger, stream, max_lines=100)
    logger.info("before")
    assert handler.writer.close()
    logger.info("after")  # uvicorn's last lines come after the app's shutdown
    assert stream.getvalue().splitlines() == ["before", "after"]


@pytest.mark.parametrize("make", [BrokenStream, io.StringIO], ids=["broken-pipe", "closed"])
def test_a_failing_stream_is_counted_not_raised(logger: logging.Logger, make: type) -> None:
    stream = make()
    if not isinstance(stream, BrokenStream):
        stream.close()
    handler = attach(logger, stream, max_lines=100)
    before = lines_dropped()
    in_thread(lambda: [logger.info("line %d", i) for i in range(3)])
    assert handler.writer.close()  # the thread survived its failed writes
    assert lines_dropped() - before == 3
    logger.info("after close")  # the caller's own write fails quietly too
    assert lines_dropped() - before == 4


def test_a_close_that_times_out_returns_and_counts_what_stayed_queued(
        logger: logging.Logger) -> None:
    stream = GatedStream()
    handler = attach(logger, stream, max_lines=100)
    before = lines_dropped()
    logger.info("stuck")
    assert stream.entered.wait(JOIN)
    logger.info("queued")
    assert not handler.writer.close(timeout=0.01)
    assert lines_dropped() - before == 1
    logger.info("later")  # the thread still hangs: the caller must not write beside it
    assert lines_dropped() - before == 2
    stream.gate.set()


def test_configured_queued_logging_sends_the_audit_file_through_the_writer(
        settings: Settings, tmp_path: Path) -> None:
    stream, audit_path = io.StringIO(), tmp_path / "audit.jsonl"
    try:
        configure_logging(settings, None, stream=stream, audit_path=audit_path, queued=True)
        logging.getLogger("proofkey.anything").warning("hello")
        logging.getLogger("proofkey.audit").info(AuditEntry(event="TokenExchanged", n=1))
        assert stop_log_writer()
        [line] = stream.getvalue().splitlines()
        assert json.loads(line)["msg"] == "hello"
        [audit] = audit_path.read_text().splitlines()
        assert json.loads(audit)["audit"] == {"event": "TokenExchanged", "n": 1}
    finally:
        configure_logging(settings, None)


async def test_a_queued_app_drains_its_log_at_shutdown_and_exports_the_drop_count(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    stream = BrokenStream()
    broken = LogWriter(stream, max_lines=10)
    broken.put(stream, "lost\n")  # one dropped line at least
    assert broken.close()
    app = create_app(settings, queued_logs=True)  # binds the stderr pytest captures now
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=settings.issuer) as http:
                for _ in range(3):
                    refused = await http.post("/token", data={
                        "grant_type": "authorization_code", "code": "x", "client_id": "nobody",
                        "code_verifier": "v" * 43, "redirect_uri": "https://nowhere.example/cb"})
                    assert refused.status_code in (400, 401)
                scraped = parse((await http.get("/metrics")).text)
        value = scraped[key("proofkey_log_lines_dropped_total")]
        assert value == lines_dropped() >= 1
        audit = [json.loads(line)["audit"] for line in capsys.readouterr().err.splitlines()
                 if line.startswith('{"') and '"logger":"proofkey.audit"' in line]
        assert [a["event"] for a in audit].count("TokenExchangeFailed") == 3
    finally:
        configure_logging(settings, None)
