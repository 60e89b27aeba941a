"""Real processes for the gateway's end-to-end tests: ``proofkey bff`` as the CLI starts it,
and a small API (uvicorn in a thread) that believes a token only if proofkey's /introspect
says it is active."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.process.conftest import _LIVE, PROOFKEY, START_TIMEOUT, _kill_group, clean_env


@dataclass
class IntrospectingApi:
    issuer: str
    client_id: str
    secret: str = field(repr=False)
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        async with httpx.AsyncClient(timeout=10) as http:
            info = (await http.post(f"{self.issuer}/introspect", data={"token": token},
                                    auth=(self.client_id, self.secret))).json()
        body = await request.body()
        self.seen.append({"token": token, "headers": dict(request.headers), "body": body})
        if not info.get("active"):
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"sub": info["sub"], "path": request.url.path,
                             "echo": body.decode(errors="replace")})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{rest:path}", self.handle,
                                       methods=["GET", "POST", "PUT", "DELETE"])])


@contextlib.contextmanager
def serving_in_thread(app: Starlette, port: int) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="bff-test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        assert thread.is_alive(), "the test API stopped"
        assert time.monotonic() < deadline, "the test API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class BffProcess:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        _kill_group(self.process.pid)
        self.process.wait(timeout=10)
        _LIVE.pop(self.process.pid, None)


@contextlib.contextmanager
def running_bff(work_dir: Path, args: list[str], secret: str, url: str,
                env: dict[str, str]) -> Iterator[BffProcess]:
    """``proofkey bff ARGS`` with the secret on stdin; waits until /bff/user answers."""
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / f"bff-{time.time_ns()}.log"
    environment = {**clean_env(work_dir), **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen([PROOFKEY, "bff", "--client-secret-stdin", *args],
                                   env=environment, stdin=subprocess.PIPE, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=work_dir,
                                   start_new_session=True)
    _LIVE[process.pid] = process
    assert process.stdin is not None
    process.stdin.write(secret.encode() + b"\n")
    process.stdin.close()
    running = BffProcess(process, url, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=1.0) as http:
            while True:
                assert process.poll() is None, f"proofkey bff exited:\n{running.output()}"
                assert time.monotonic() < deadline, f"no answer:\n{running.output()}"
                with contextlib.suppress(httpx.TransportError):
                    if http.get(f"{url}/bff/user").status_code == 401:
                        break
                time.sleep(0.05)
        yield running
    finally:
        running.stop()
