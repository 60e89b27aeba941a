"""One run of the strict test server of ``proofkey client-check``, for the three ways to use
it: around a command (``client-check -- COMMAND``), on its own until stopped
(``client-check --serve``, for browser suites) and as the ``proofkey_test_server`` pytest
fixture. It seeds a throwaway store (a test user, a public test client), serves proofkey's app
behind the ``Recorder`` on a free loopback port, and grades what the client did."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from proofkey.cli.client_check_server import Recorder, serving
from proofkey.ops.client_check_grades import Grading, grade
from proofkey.ops.client_check_profiles import PROFILES
from proofkey.ops.login_driver import LoginSettings
from proofkey.settings import Settings, load_settings

__all__ = ["CLIENT_ID", "REDIRECT_URI", "USERNAME", "Options", "StrictServer", "default_state",
           "strict_server"]

CLIENT_ID = "client-check"
REDIRECT_URI = "http://127.0.0.1/callback"  # loopback: any port is accepted (RFC 8252 §7.3)
USERNAME = "test-user"
_DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_KEPT_DIGESTS = 10_000


def default_state() -> Path:
    return Path(tempfile.gettempdir()) / f"proofkey-client-check-{os.getuid()}.state"


@dataclass(frozen=True, slots=True)
class Options:
    """What a run asks of the server; the defaults are the command line's."""

    attempts: int = 4
    profile: str = "oauth2.1"
    require_par: bool = False
    auto_approve: bool = False
    mixup_attempt: int = 2  # the n-th code issued gets a wrong iss; 0: none
    error_attempt: int = 3  # the n-th gets error=access_denied beside it
    redirect_attempt: int = 4  # the n-th one's redemption gets a 307 to an unregistered URI
    state: Path | None = None  # challenge digests of earlier runs (None: default_state())

    @property
    def par_required(self) -> bool:
        return self.require_par or PROFILES[self.profile].require_par


@dataclass(slots=True)
class StrictServer:
    """A running test server: what the app under test needs, and ``grade``."""

    issuer: str
    options: Options
    recorder: Recorder = field(repr=False)
    password: str = field(repr=False)
    earlier: tuple[str, ...] = field(default=(), repr=False)  # digests of earlier runs
    client_id: str = CLIENT_ID
    redirect_uri: str = REDIRECT_URI
    username: str = USERNAME

    def env(self) -> dict[str, str]:
        """The ``PROOFKEY_TEST_*`` variables a command under test gets."""
        return {"PROOFKEY_TEST_ISSUER": self.issuer, "PROOFKEY_TEST_CLIENT_ID": self.client_id,
                "PROOFKEY_TEST_REDIRECT_URI": self.redirect_uri,
                "PROOFKEY_TEST_USERNAME": self.username,
                "PROOFKEY_TEST_PASSWORD": self.password,
                "PROOFKEY_TEST_ATTEMPTS": str(self.options.attempts)}

    def grade(self, exit_code: int = 0) -> tuple[Grading, str | None]:
        """Grade what was recorded so far against the challenges of the runs before this
        one, and remember this run's in the state file (grading again replaces them); the
        grading and a warning when the state file could not be written."""
        state_file = self.options.state or default_state()
        grading = grade(list(self.recorder.exchanges), attempts=self.options.attempts,
                        earlier_challenges=self.earlier, require_par=self.options.require_par,
                        exit_code=exit_code, profile=self.options.profile)
        try:
            _write_state(state_file, [*self.earlier, *grading.challenge_digests])
        except OSError as exc:
            return grading, (f"cannot write {state_file}: {exc.strerror}; later runs will not "
                             "know this run's challenges")
        return grading, None


def _read_state(path: Path) -> list[str]:
    """Digests of earlier runs' challenges (OSError if the file exists but cannot be read)."""
    try:
        return path.read_text().split()
    except FileNotFoundError:
        return []


def _write_state(path: Path, digests: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(digests[-_KEPT_DIGESTS:]) + "\n")


async def _seed(settings: Settings, password: str, require_par: bool) -> None:
    from proofkey.flows.admin import register_client, register_user
    from proofkey.store import open_store
    from proofkey.tokens.keys import KeyRing

    store = open_store(settings.effective_database_url)
    try:
        await store.migrate()
        now = int(time.time())
        await KeyRing.load(store, now)
        await register_user(store, USERNAME, password, name="Test User",
                            email="test-user@example.com", now=now)
        await register_client(
            store, CLIENT_ID, client_type="public", redirect_uris=[REDIRECT_URI],
            scopes=settings.scopes_supported, supported_scopes=settings.scopes_supported,
            grant_types=("authorization_code", "refresh_token", _DEVICE_GRANT),
            name="proofkey client-check", require_par=require_par, now=now)
    finally:
        await store.close()


@contextlib.contextmanager
def strict_server(options: Options) -> Iterator[StrictServer]:
    """Seed and serve; the server stops (and its store is deleted) when the block ends.
    OSError if the state file exists but cannot be read, RuntimeError if the server does
    not start."""
    earlier = tuple(_read_state(options.state or default_state()))
    password = secrets.token_urlsafe(18)
    with tempfile.TemporaryDirectory(prefix="proofkey-client-check-") as data_dir, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        settings = load_settings({"data_dir": data_dir, "host": "127.0.0.1", "port": port,
                                  "demo": False, "log_level": "warning",
                                  "audit_log": str(Path(data_dir) / "audit.log")}, environ={})
        asyncio.run(_seed(settings, password, options.par_required))
        from proofkey.web.app import create_app

        issuer = settings.effective_issuer
        login = LoginSettings(USERNAME, password) if options.auto_approve else None
        recorder = Recorder(create_app(settings), issuer=issuer,
                            mixup_at=options.mixup_attempt, error_at=options.error_attempt,
                            redirect_at=options.redirect_attempt, login=login)
        with serving(recorder, sock):
            yield StrictServer(issuer, options, recorder, password, earlier)
