"""Give each pre-minted code its own DPoP proof (RFC 9449) for bench/lua/token.lua.

    python dpop_proofs.py CODES_FILE TOKEN_URL

Rewrites CODES_FILE's "code verifier" lines as "code verifier proof": one ES256 key for the
run (a client's key), a fresh ``jti`` per proof, ``iat`` now (a proof stays acceptable for
five minutes, longer than a measured run). Runs with proofkey's venv (joserfc).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

from joserfc import jws
from joserfc.jwk import ECKey


def main(codes_file: str, token_url: str) -> int:
    key = ECKey.generate_key("P-256")
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    now = int(time.time())
    path = Path(codes_file)
    lines = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        claims = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": token_url, "iat": now}
        proof = jws.serialize_compact(header, json.dumps(claims), key, algorithms=["ES256"])
        lines.append(f"{line.split()[0]} {line.split()[1]} {proof}")
    path.write_text("\n".join(lines) + "\n")
    print(json.dumps({"proofs": len(lines)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
