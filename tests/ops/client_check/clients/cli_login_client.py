"""``proofkey login`` (the CLI) signing in PROOFKEY_TEST_ATTEMPTS times, as a person at a
terminal would: it prints the authorization URL (``--no-browser``), the person signs in
(``person.sign_in``) and their browser delivers the answer to the CLI's loopback receiver.
Each sign-in is then refreshed twice by ``proofkey token`` (the script marks the cached access
token expired first, as time would). Tokens are kept in a temporary ``XDG_CONFIG_HOME``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from person import sign_in

ENV = os.environ
ISSUER = ENV["PROOFKEY_TEST_ISSUER"]
CLIENT_ID = ENV["PROOFKEY_TEST_CLIENT_ID"]
PROOFKEY = [sys.executable, "-m", "proofkey"]
WHO = ["--issuer", ISSUER, "--client-id", CLIENT_ID]


def expire(cache: Path) -> None:
    data = json.loads(cache.read_text())
    for entry in data.values():
        entry["expires_at"] = 0
    cache.write_text(json.dumps(data))


def sign_in_once(env: dict[str, str], cache: Path) -> str:
    login = subprocess.Popen([*PROOFKEY, "login", *WHO, "--no-browser", "--timeout", "60"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert login.stdout is not None
    url = login.stdout.readline().strip()
    callback = sign_in(url)
    httpx.get(callback, timeout=10)  # the browser lands on the CLI's loopback receiver
    _, errors = login.communicate(timeout=60)
    if login.returncode != 0:
        return f"refused: {errors.strip().splitlines()[-1]}"
    for _ in range(2):
        expire(cache)
        subprocess.run([*PROOFKEY, "token", *WHO], env=env, check=True, timeout=60,
                       stdout=subprocess.DEVNULL)
    return "signed in"


def main() -> None:
    with tempfile.TemporaryDirectory() as config:
        env = {**ENV, "XDG_CONFIG_HOME": config}
        cache = Path(config) / "proofkey" / "tokens.json"
        for attempt in range(1, int(ENV.get("PROOFKEY_TEST_ATTEMPTS", "4")) + 1):
            print(f"attempt {attempt} {sign_in_once(env, cache)}", flush=True)


if __name__ == "__main__":
    main()
