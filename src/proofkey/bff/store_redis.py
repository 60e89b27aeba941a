"""The session store on Redis, for several gateway instances without PostgreSQL.

A session is a hash (``sealed``, ``version``, times, ``lease``); a pending login a hash too.
Every write that must be atomic is ONE Lua script: compare-and-set of tokens on ``version``,
the refresh lease, single-use ``take_login``, ``delete`` returning the row. Expiry is the
callers' clock, kept in a sorted set (score: when the key ends) that ``purge`` sweeps, so the
store follows the gateway's clock exactly as the SQL stores do. All keys share one hash tag,
so the scripts also run on Redis Cluster.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis

from proofkey.bff.sessions import Session

__all__ = ["RedisSessionStore"]

_FIELDS = ("sealed", "version", "created_at", "last_seen_at", "idle_expires_at",
           "absolute_expires_at")
# KEYS: session, expiry set. ARGV: expected version, sealed.
_REPLACE = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'sealed', ARGV[2], 'version', tonumber(ARGV[1]) + 1, 'lease', 0)
return 1
"""
# KEYS: session. ARGV: version, now, until.
_CLAIM = """
local row = redis.call('HMGET', KEYS[1], 'version', 'lease')
if row[1] ~= ARGV[1] or tonumber(row[2]) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'lease', ARGV[3])
return 1
"""
_RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'lease', 0) end
return 1
"""
# KEYS: session, expiry set. ARGV: now, idle limit.
_TOUCH = """
local absolute = redis.call('HGET', KEYS[1], 'absolute_expires_at')
if not absolute then return 0 end
redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[1], 'idle_expires_at', ARGV[2])
redis.call('ZADD', KEYS[2], math.min(tonumber(ARGV[2]), tonumber(absolute)), KEYS[1])
return 1
"""
# KEYS: key, expiry set. Returns the hash's fields and values, deleted in the same step.
_TAKE = """
local row = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], KEYS[1])
return row
"""
# KEYS: expiry set. ARGV: now, most keys per call.
_PURGE = """
local ended = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, key in ipairs(ended) do redis.call('DEL', key) end
if #ended > 0 then redis.call('ZREM', KEYS[1], unpack(ended)) end
return #ended
"""


class RedisSessionStore:
    def __init__(self, url: str, *, prefix: str = "proofkey-bff") -> None:
        self._redis: Any = redis.from_url(url)
        self._tag = "{" + prefix + "}"
        self._expiry = f"{self._tag}:expiry"

    def _session_key(self, digest: str) -> str:
        return f"{self._tag}:s:{digest}"

    def _login_key(self, digest: str) -> str:
        return f"{self._tag}:l:{digest}"

    async def _eval(self, script: str, keys: list[str], *args: Any) -> Any:
        return await self._redis.eval(script, len(keys), *keys, *args)

    async def migrate(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

    async def create(self, session: Session) -> None:
        key = self._session_key(session.digest)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={
                "sealed": session.sealed, "version": session.version,
                "created_at": session.created_at, "last_seen_at": session.last_seen_at,
                "idle_expires_at": session.idle_expires_at,
                "absolute_expires_at": session.absolute_expires_at, "lease": 0})
            pipe.zadd(self._expiry, {key: min(session.idle_expires_at,
                                              session.absolute_expires_at)})
            await pipe.execute()

    @staticmethod
    def _session(digest: str, row: dict[bytes, bytes]) -> Session | None:
        if not row:
            return None
        values = [row[name.encode()] for name in _FIELDS]
        return Session(digest, bytes(values[0]), *(int(v) for v in values[1:]))

    async def get(self, digest: str) -> Session | None:
        return self._session(digest, await self._redis.hgetall(self._session_key(digest)))

    async def replace_tokens(self, digest: str, expected_version: int, sealed: bytes) -> bool:
        done = await self._eval(_REPLACE, [self._session_key(digest)], expected_version, sealed)
        return int(done) == 1

    async def claim_refresh(self, digest: str, version: int, now: int, until: int) -> bool:
        done = await self._eval(_CLAIM, [self._session_key(digest)], version, now, until)
        return int(done) == 1

    async def release_refresh(self, digest: str) -> None:
        await self._eval(_RELEASE, [self._session_key(digest)])

    async def touch(self, digest: str, now: int, idle_expires_at: int) -> None:
        await self._eval(_TOUCH, [self._session_key(digest), self._expiry], now,
                         idle_expires_at)

    async def _take(self, key: str) -> dict[bytes, bytes]:
        flat = await self._eval(_TAKE, [key, self._expiry])
        return dict(zip(flat[::2], flat[1::2], strict=True))

    async def delete(self, digest: str) -> Session | None:
        return self._session(digest, await self._take(self._session_key(digest)))

    async def put_login(self, digest: str, sealed: bytes, expires_at: int) -> None:
        key = self._login_key(digest)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"sealed": sealed, "expires_at": expires_at})
            pipe.zadd(self._expiry, {key: expires_at})
            await pipe.execute()

    async def take_login(self, digest: str, now: int) -> bytes | None:
        row = await self._take(self._login_key(digest))
        if not row or int(row[b"expires_at"]) <= now:
            return None
        return bytes(row[b"sealed"])

    async def purge(self, now: int) -> int:
        return int(await self._eval(_PURGE, [self._expiry], now, 1000))
