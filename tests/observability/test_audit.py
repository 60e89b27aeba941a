"""Audit lines: one JSON object per event, in the shape log consumers parse, each string value
masked once on its way and every catch counted, whoever reads the record."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import typing

import pytest

from proofkey.crypto import fingerprint, new_handle, new_id
from proofkey.observability import events
from proofkey.observability.audit import AuditLog
from proofkey.observability.events import (
    AuthorizationFailed,
    Event,
    TokenExchanged,
    TokenExchangeFailed,
)
from proofkey.observability.logs import AuditEntry
from proofkey.settings import Settings
from tests.observability.test_logs import configured

JWT = ("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0."
       "MEUCIQDx3Yk5b1m0f6bJ0")
MASKED_JWT = f"[REDACTED:jwt fp={fingerprint(JWT)}]"
HANDLE = new_handle()


def audit_lines(stream: io.StringIO) -> list[dict[str, typing.Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def exchanged() -> TokenExchanged:
    return TokenExchanged(client_id="web-app", grant_type="authorization_code",
                          grant_id=new_id(), latency_seconds=0.004)


def test_an_event_becomes_one_compact_line_with_its_fields_under_audit(
        settings: Settings) -> None:
    stream, sink = configured(settings)
    event = exchanged()
    AuditLog()(event)
    [text] = stream.getvalue().splitlines()
    line = json.loads(text)
    assert list(line) == ["ts", "level", "logger", "audit"]
    assert (line["level"], line["logger"]) == ("info", "proofkey.audit")
    audit = line["audit"]
    assert list(audit) == ["ts", "event", "client_id", "grant_type", "grant_id",
                           "latency_seconds"]
    assert isinstance(audit["ts"], float)
    assert {k: v for k, v in audit.items() if k != "ts"} == {
        "event": "TokenExchanged", **dataclasses.asdict(event)}
    # Byte for byte what encoding the parsed line again gives: compact, ASCII, nothing extra.
    assert text == json.dumps(line, separators=(",", ":"))
    assert sink.kinds == []


def test_none_and_booleans_keep_their_json_types(settings: Settings) -> None:
    stream, _ = configured(settings)
    AuditLog()(AuthorizationFailed(client_id=None, error="invalid_request", redirected=False,
                                   missing_challenge=True, challenge_problem="missing"))
    [line] = audit_lines(stream)
    assert line["audit"] == {
        "ts": line["audit"]["ts"], "event": "AuthorizationFailed", "client_id": None,
        "error": "invalid_request", "redirected": False, "missing_challenge": True,
        "challenge_problem": "missing", "state_problem": None}


def failed(client_id: str | None) -> TokenExchangeFailed:
    return TokenExchangeFailed(client_id=client_id, grant_type="authorization_code",
                               outcome="invalid_client", error="invalid_client",
                               latency_seconds=0.001, detail="unknown_client")


@pytest.mark.parametrize(("client_id", "secret", "kind"), [
    (JWT, JWT, "jwt"),
    (f"code_verifier={HANDLE}", HANDLE, "code_verifier"),
    ("web-app password=hunter2", "hunter2", "password"),
    (HANDLE, HANDLE, "handle"),
    # Quotes and backslashes: masked all the same, and the line stays one JSON object.
    ('a\\" b client_secret=s3cr3t\\', "s3cr3t", "client_secret"),
])
def test_an_attacker_chosen_client_id_is_masked_and_counted(
        settings: Settings, client_id: str, secret: str, kind: str) -> None:
    stream, sink = configured(settings)
    AuditLog()(failed(client_id))
    [line] = audit_lines(stream)
    assert f"[REDACTED:{kind}" in line["audit"]["client_id"]
    assert secret not in stream.getvalue()
    assert (line["audit"]["outcome"], line["audit"]["detail"]) == ("invalid_client",
                                                                   "unknown_client")
    assert sink.kinds == [kind]


def test_every_line_is_masked_and_counted_however_often_a_value_repeats(
        settings: Settings) -> None:
    stream, sink = configured(settings)
    audit = AuditLog()
    for _ in range(3):
        audit(exchanged())
        audit(failed(JWT))
    assert JWT not in stream.getvalue()
    assert sink.kinds == ["jwt"] * 3
    assert [line["audit"]["client_id"] for line in audit_lines(stream)] == [
        "web-app", MASKED_JWT] * 3


def test_other_records_are_still_redacted_as_a_whole(settings: Settings) -> None:
    stream, sink = configured(settings)
    AuditLog()(exchanged())
    logging.getLogger("proofkey.web").warning("client sent %s", JWT)
    _, web = audit_lines(stream)
    assert web["msg"] == f"client sent {MASKED_JWT}"
    assert sink.kinds == ["jwt"]


def test_other_handlers_see_the_masked_json_text(settings: Settings) -> None:
    _, sink = configured(settings)
    seen = io.StringIO()
    extra = logging.StreamHandler(seen)
    extra.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("proofkey.audit")
    logger.addHandler(extra)
    try:
        AuditLog()(failed(JWT))
    finally:
        logger.removeHandler(extra)
    name, _, text = seen.getvalue().strip().partition(" ")
    assert name == "proofkey.audit"
    assert json.loads(text)["client_id"] == MASKED_JWT
    assert JWT not in seen.getvalue()
    assert sink.kinds == ["jwt"]


def test_an_audit_entry_with_a_stack_keeps_both(settings: Settings) -> None:
    stream, _ = configured(settings)
    logging.getLogger("proofkey.audit").warning(AuditEntry(event="Check", client_id=JWT),
                                                stack_info=True)
    [line] = audit_lines(stream)
    assert list(line) == ["ts", "level", "logger", "audit", "stack"]
    assert line["audit"] == {"event": "Check", "client_id": MASKED_JWT}


def test_an_audit_entry_on_another_logger_is_a_masked_message(settings: Settings) -> None:
    stream, sink = configured(settings)
    AuditLog(logging.getLogger("proofkey.other"))(failed(JWT))
    [line] = audit_lines(stream)
    assert "audit" not in line
    assert json.loads(str(line["msg"]))["client_id"] == MASKED_JWT
    assert sink.kinds == ["jwt"]


def test_an_audit_entry_shows_as_masked_json_without_proofkey_logging() -> None:
    text = str(AuditEntry(event="TokenExchangeFailed", client_id=JWT, revoked=True))
    assert json.loads(text) == {"event": "TokenExchangeFailed",
                                "client_id": MASKED_JWT, "revoked": True}


def test_nothing_is_written_when_the_audit_logger_is_off(settings: Settings) -> None:
    stream, _ = configured(settings)
    logger = logging.getLogger("proofkey.audit")
    logger.setLevel(logging.WARNING)
    try:
        AuditLog()(exchanged())
    finally:
        logger.setLevel(logging.INFO)
    assert stream.getvalue() == ""


def _event_classes() -> list[type[Event]]:
    return [cls for cls in vars(events).values()
            if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event]


@pytest.mark.parametrize("cls", _event_classes(), ids=lambda cls: cls.__name__)
def test_events_are_flat_so_their_fields_are_copied_as_they_are(cls: type[Event]) -> None:
    for name, hint in typing.get_type_hints(cls).items():
        if typing.get_origin(hint) is typing.Literal:  # Literal["a", "b"]: strings
            continue
        kinds = typing.get_args(hint) if typing.get_origin(hint) is not None else (hint,)
        for kind in kinds:  # X | None, Literal["a", "b"] | None, or a plain type
            assert (kind in (str, int, float, bool, type(None))
                    or typing.get_origin(kind) is typing.Literal), (cls.__name__, name, hint)
