"""All logging goes through redaction into JSON lines, whoever logs and whichever handler reads."""

from __future__ import annotations

import dataclasses
import io
import json
import logging

import pytest

from proofkey.crypto import new_handle
from proofkey.observability.logs import JsonFormatter, configure_logging
from proofkey.settings import Settings


class Sink:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def count_redaction(self, kind: str) -> None:
        self.kinds.append(kind)


def configured(settings: Settings) -> tuple[io.StringIO, Sink]:
    stream, sink = io.StringIO(), Sink()
    configure_logging(settings, sink, stream=stream)
    return stream, sink


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_is_json_with_the_secret_masked_and_counted_once(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    stream, sink = configured(settings)
    code = new_handle()
    logging.getLogger("proofkey.anything").warning("oops %s and password=%s", code, "hunter2")
    [entry] = lines(stream)
    assert entry["level"] == "warning"
    assert entry["logger"] == "proofkey.anything"
    assert code not in str(entry["msg"])
    assert "hunter2" not in str(entry["msg"])
    assert sink.kinds == ["handle", "password"]
    # Other handlers on the root logger (here pytest's) see the masked record too.
    assert code not in caplog.text
    assert "hunter2" not in caplog.text


def test_tracebacks_are_masked(settings: Settings) -> None:
    stream, sink = configured(settings)
    secret = new_handle()
    try:
        raise ValueError(f"bad refresh_token {secret}")
    except ValueError:
        logging.getLogger("proofkey.web").exception("failed")
    [entry] = lines(stream)
    assert "ValueError" in str(entry["exc"])
    assert secret not in stream.getvalue()
    assert sink.kinds == ["handle"]


def test_audit_lines_are_nested_objects_and_kept_at_any_level(settings: Settings) -> None:
    stream, _ = configured(dataclasses.replace(settings, log_level="error"))
    logging.getLogger("proofkey.audit").info('{"event":"LoginFailed","username_fp":"ab12"}')
    logging.getLogger("proofkey.web").info("not shown at error level")
    [entry] = lines(stream)
    assert entry["audit"] == {"event": "LoginFailed", "username_fp": "ab12"}


def test_uvicorn_is_routed_through_and_access_paths_lose_their_secrets(
        settings: Settings) -> None:
    handle = new_handle()
    uvicorn_access = logging.getLogger("uvicorn.access")
    # As uvicorn leaves it: its own handler, no propagation, its level.
    uvicorn_access.addHandler(logging.NullHandler())
    uvicorn_access.propagate = False
    uvicorn_access.setLevel(logging.INFO)
    stream, sink = configured(settings)
    assert uvicorn_access.propagate
    assert uvicorn_access.handlers == []
    uvicorn_access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET",
                        f"/interaction/{handle}/login?code={handle}", "1.1", 200)
    [entry] = lines(stream)
    assert entry["msg"] == '127.0.0.1:5 - "GET /interaction/{handle}/login HTTP/1.1" 200'
    assert sink.kinds == []


def test_configuring_again_replaces_the_handler_and_the_counter(settings: Settings) -> None:
    first, first_sink = configured(settings)
    second, second_sink = configured(settings)
    logging.getLogger("proofkey").warning("token %s", new_handle())
    assert first.getvalue() == ""
    assert len(lines(second)) == 1
    assert (first_sink.kinds, second_sink.kinds) == ([], ["handle"])


def test_each_line_carries_the_time_of_its_own_record() -> None:
    formatter = JsonFormatter()
    noon = 1_767_268_800.0  # 2026-01-01T12:00:00Z
    stamps = []
    for offset in (0.25, 1.5, 0.75, 61.0):  # the same second, the next, back, a minute on
        record = logging.makeLogRecord({"name": "proofkey.x", "msg": "m",
                                        "created": noon + offset, "msecs": offset % 1 * 1000})
        stamps.append(json.loads(formatter.format(record))["ts"])
    assert stamps == ["2026-01-01T12:00:00.250Z", "2026-01-01T12:00:01.500Z",
                      "2026-01-01T12:00:00.750Z", "2026-01-01T12:01:01.000Z"]


def test_a_record_made_by_make_log_record_is_redacted(settings: Settings) -> None:
    """``logging.makeLogRecord`` (what a socket log receiver uses) fills an empty record from a
    dict after the record factory ran; it was written out unmasked."""
    stream, sink = configured(settings)
    record = logging.makeLogRecord({"name": "remote", "levelno": logging.INFO,
                                    "levelname": "INFO", "msg": "login password=%s",
                                    "args": ("hunter2",)})
    logging.getLogger().handle(record)
    [entry] = lines(stream)
    assert entry["msg"] == "login password=[REDACTED:password]"
    assert sink.kinds == ["password"]


def test_a_record_arriving_with_a_mark_of_its_own_is_still_redacted(settings: Settings) -> None:
    stream, _sink = configured(settings)
    record = logging.makeLogRecord({"name": "remote", "levelno": logging.INFO,
                                    "levelname": "INFO", "msg": "password=hunter2",
                                    "_proofkey_redacted": True})
    logging.getLogger().handle(record)
    assert "hunter2" not in stream.getvalue()
