"""Random handles, digests, fingerprints and password hashing: every secret is born and hashed here.

Codes, tokens, session handles and client secrets are 256-bit values from ``secrets`` (RFC 6749
§10.10: "The probability of an attacker guessing generated tokens ... MUST be less than or equal
to 2^(-128)"), base64url without padding. Stores keep only their SHA-256 digest; logs and audit
lines carry only a short fingerprint of that digest. Passwords are argon2id (OWASP parameters).
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import ctypes.util
import functools
import hashlib
import hmac
import os
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from proofkey.models import Secret

__all__ = [
    "PASSWORD_HASHER",
    "Secret",
    "constant_time_equal",
    "digest",
    "fingerprint",
    "hash_password",
    "hash_password_async",
    "new_handle",
    "new_id",
    "verify_password",
    "verify_password_async",
]

# OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1.
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
_M_MMAP_THRESHOLD = -3  # glibc <malloc.h>
_MMAP_ABOVE = 128 * 1024  # glibc's initial threshold, pinned


def _return_large_blocks_to_the_os() -> None:
    """Each argon2id hash mallocs a 19 MiB block. glibc serves the first from mmap and, on its
    free, raises its mmap threshold past 19 MiB (the dynamic threshold), so later blocks come
    from the thread's arena and stay resident: ~19 MiB per thread that ever hashed. Pinning
    the threshold keeps such blocks on mmap, returned to the kernel when freed."""
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_ABOVE)
    except (OSError, AttributeError):  # not glibc: nothing to pin
        return


@functools.cache
def _password_executor() -> ThreadPoolExecutor:
    """argon2id is CPU-bound and releases the GIL: one thread per core this process may run
    on is all it can use (a worker pinned to one core gets one), and it bounds the hashes held
    in memory at once; further logins queue."""
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="argon2",
                              initializer=_return_large_blocks_to_the_os)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the username is unknown, so that the unknown-user path
    costs the same as a wrong password (no user enumeration by timing)."""
    return PASSWORD_HASHER.hash("proofkey-timing-equaliser")


def new_handle(nbytes: int = 32) -> str:
    """A fresh unguessable value (codes, tokens, handles, secrets): base64url, no padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).rstrip(b"=").decode("ascii")


def new_id() -> str:
    """A fresh identifier that is not a secret (grant ids, jti, user ids): 128 bits, hex."""
    return secrets.token_hex(16)


def digest(value: str) -> str:
    """The SHA-256 digest (hex) under which a secret value is stored and looked up."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def fingerprint(value: str) -> str:
    """A short, non-reversible correlation handle for logs: 12 hex chars of SHA-256."""
    return hashlib.sha256(b"proofkey-fp:" + value.encode("utf-8")).hexdigest()[:12]


def constant_time_equal(a: str, b: str) -> bool:
    """Compare two secret-derived strings in time independent of where they differ."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def hash_password(password: str) -> str:
    return PASSWORD_HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; an absent hash costs the same time and is False."""
    try:
        return PASSWORD_HASHER.verify(password_hash or _dummy_hash(), password) and (
            password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    """Hash off the event loop (argon2id costs tens of milliseconds of CPU)."""
    return await asyncio.get_running_loop().run_in_executor(
        _password_executor(), hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    """Verify off the event loop (argon2id costs tens of milliseconds of CPU)."""
    return await asyncio.get_running_loop().run_in_executor(
        _password_executor(), verify_password, password_hash, password)
