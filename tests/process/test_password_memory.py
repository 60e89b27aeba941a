"""argon2id's 19 MiB working memory is given back after each hash (docs/performance.md)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent("""
    import asyncio
    from proofkey.crypto import hash_password, verify_password_async

    def rss_mib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024

    async def main():
        stored = hash_password("correct horse battery staple")
        before = rss_mib()
        for _ in range(3):  # bursts of concurrent logins, as a busy login page sees
            checks = [verify_password_async(stored, "correct horse battery staple")
                      for _ in range(8)]
            assert all(await asyncio.gather(*checks))
        assert not await verify_password_async(stored, "wrong")
        print(rss_mib() - before)

    asyncio.run(main())
""")


def test_concurrent_logins_do_not_leave_a_19_mib_block_per_thread_resident() -> None:
    # Fresh interpreter: RSS is per process. Before the fix this grew by ~115 MiB (one
    # retained block per thread of the default executor).
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=120, check=True)
    growth_mib = int(done.stdout.strip())
    assert growth_mib < 40, f"RSS grew by {growth_mib} MiB over 24 password checks"
