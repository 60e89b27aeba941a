"""``proofkey scan-logs`` and the Sigma rules: every planted leak is found at its position with
its kind and its value masked; realistic benign logs give no finding at all."""

from __future__ import annotations

import base64
import bz2
import gzip
import json
import lzma
import random
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from proofkey.ops import logscan
from proofkey.ops.tools_cli import lint, probe, scan_logs

FIXTURES = Path(__file__).parent / "fixtures" / "logscan"
LEAKS = FIXTURES / "leaks"
BENIGN = FIXTURES / "benign"
SIGMA = Path(__file__).parents[2] / "deploy" / "sigma"
EXPECTED: list[dict[str, Any]] = json.loads((LEAKS / "expected.json").read_text())
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
CODE = "SplxlOBeZQQYbYS6WxSbIA7cdf3kWq1k9xX2aB_cd-E"
JWT = ("eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ1LTQyIiwiYXVkIjoiYXBpIn0."
       "MEUCIQDx3z1kq8y5cR0TnKq7aYbWm4Gx2Fh9pJvLwQeNcDuTzA")


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("scan-logs")(scan_logs)
    app.command("lint")(lint)
    app.command("probe")(probe)
    return app


def run(*args: str, stdin: bytes | None = None) -> Any:
    return CliRunner().invoke(cli(), ["scan-logs", *args], input=stdin)


def leak_line(entry: dict[str, Any]) -> str:
    return str((LEAKS / entry["file"]).read_text().splitlines()[entry["line"] - 1])


def kinds(text: str) -> list[str]:
    return [kind for kind, *_ in logscan.scan_line(text)]


# --- what counts as a leak ------------------------------------------------------------------

def test_every_planted_leak_is_found_with_its_kind_and_nothing_else() -> None:
    report = logscan.scan_paths([str(LEAKS)])
    found = sorted((Path(f.path).name, f.line, f.kind) for f in report.findings)
    assert found == sorted((e["file"], e["line"], e["kind"]) for e in EXPECTED)
    assert set(report.by_kind()) == set(logscan.KINDS), "every kind has a planted sample"


def test_a_finding_points_at_the_secret_and_never_carries_it() -> None:
    for finding in logscan.scan_paths([str(LEAKS)]).findings:
        line = Path(finding.path).read_text().splitlines()[finding.line - 1]
        secret = line[finding.column - 1:finding.end_column - 1]
        assert len(secret) == finding.length
        assert secret not in finding.masked
        shown = finding.masked.split("…")[0]
        assert secret.startswith(shown)
        assert len(shown) <= 4
        assert finding.masked.endswith(f"({len(secret)} chars)")


@pytest.mark.parametrize(("line", "expected"), [
    (f"GET /cb?code={CODE}&state=af0ifjsldkj HTTP/1.1", ["authorization_code"]),
    (f"token form code_verifier={VERIFIER}", ["code_verifier"]),
    (f'{{"code_verifier": "{VERIFIER}"}}', ["code_verifier"]),
    (f"code_verifier={VERIFIER[:42]}", []),  # 42 characters: not a verifier (RFC 7636 §4.1)
    (f"code_verifier={'a' * 64}", []),  # no entropy: a placeholder
    (f"Authorization: Bearer {JWT}", ["authorization_header"]),
    (f"validating {JWT} now", ["jwt"]),
    (f'{{"id_token": "{JWT}"}}', ["jwt"]),
    ("eyJub3QiOiJhIGhlYWRlciJ9.eyJzdWIiOiJ4In0.c2ln", []),  # JSON header without "alg"
    ("eyJhbGciOi.eyJzdWIiOiJ4In0.c2ln", []),  # the header does not decode
    ("Authorization: Basic d2ViLWFwcDpzM2NyM3Q=", ["authorization_header"]),  # web-app:s3cr3t
    ("authorization: Basic bm90IGEgcGFpcg==", []),  # decodes, but no user:secret
    ("redirect=https%3A%2F%2Fapp%2Fcb%3Frefresh_token%3DtGzv3JOkF0XG5Qx2TlKWIA2026%26x%3D1",
     ["refresh_token"]),
    ("password=hunter2 user=bob", ["password"]),
    ('{"password": "[REDACTED]"}', []),
    ('{"password": "***"}', []),
    ("password=[FILTERED]", []),
    ('{"errors": {"password": "must be at least 12 characters"}}', []),
    ("client_secret_basic client_secret_expires_at=0", []),
    ("status code=200 exit code=0 http_code=404", []),
    ('{"error": {"code": "invalid_grant"}, "code": 400}', []),
    ('{"code": "ERR_TOKEN_EXPIRED_401"}', []),
    ("response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", []),
    ("grant_type=authorization_code&grant_type=refresh_token&grant_type=password", []),
    ("WWW-Authenticate: Bearer realm=\"api\", error=\"invalid_token\"", []),
    # A random password of letters only (the demo's, 1 time in 28): case changes at random.
    ("Log in at http://127.0.0.1:8000/account as demo with password EZBtAoTDrrlpYTpS (x)",
     ["password"]),
    ("the user chose password PasswordResetEmailSent then", []),  # camelCase is a word
    ("see password HTTPServer docs", []),
])
def test_a_line_is_judged_by_the_shape_of_its_values(line: str, expected: list[str]) -> None:
    assert kinds(line) == expected


def test_the_column_is_that_of_the_secret_itself() -> None:
    line = f'203.0.113.7 - - "GET /cb?state=x&code={CODE} HTTP/1.1" 302'
    [(kind, start, end, value)] = logscan.scan_line(line)
    assert (kind, value) == ("authorization_code", CODE)
    assert line.index(CODE) == start
    assert end == start + len(CODE)


# --- the benign corpus ----------------------------------------------------------------------

def test_realistic_benign_logs_give_no_finding() -> None:
    report = logscan.scan_paths([str(BENIGN), str(FIXTURES / "scanner_only_benign.log")])
    assert report.files == 4
    assert report.lines > 80
    assert report.findings == []


def _generated_benign_lines(count: int) -> list[str]:
    """Ordinary traffic: ids, hashes, SHAs, blobs, trace ids, URLs and status codes."""
    rnd = random.Random(6)
    paths = ["/api/orders", "/api/items", "/healthz", "/static/app.js", "/search", "/callback"]
    lines = []
    for n in range(count):
        rid = uuid.UUID(int=rnd.getrandbits(128), version=4)
        sha = rnd.randbytes(32).hex()
        blob = base64.b64encode(rnd.randbytes(rnd.randint(30, 300))).decode()
        status = rnd.choice([200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 500, 503])
        path = rnd.choice(paths)
        lines += [
            f'192.0.2.{n % 250} - - [22/Nov/2026:10:{n % 60:02d}:00 +0000] "GET {path}?id={rid}'
            f'&page={n % 9}&sort=-created HTTP/1.1" {status} {rnd.randint(0, 99999)} "-" "curl"',
            json.dumps({"ts": f"2026-11-22T10:00:{n % 60:02d}Z", "level": "info",
                        "request_id": str(rid), "trace_id": rnd.randbytes(16).hex(),
                        "span_id": rnd.randbytes(8).hex(), "status": status, "code": status,
                        "sha256": sha, "git_sha": rnd.randbytes(20).hex(),
                        "attachment": f"data:image/png;base64,{blob}",
                        "url": f"https://app.example.com{path}?lang=en&ref={rid.hex[:8]}"}),
            f"2026-11-22 10:00:{n % 60:02d} INFO job {rid} finished code={status} "
            f"digest=sha256:{sha} password reset email sent={n % 2 == 0}",
        ]
    return lines


def test_thousands_of_generated_benign_lines_give_no_finding(tmp_path: Path) -> None:
    log = tmp_path / "traffic.log.gz"
    with gzip.open(log, "wt") as out:
        out.write("\n".join(_generated_benign_lines(2000)) + "\n")
    report = logscan.scan_paths([str(log)])
    assert report.lines == 6000
    assert report.findings == []


# --- inputs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open])
def test_compressed_logs_are_read_by_their_magic_bytes(tmp_path: Path, opener: Any) -> None:
    log = tmp_path / "rotated.log.1"
    with opener(log, "wt") as out:
        out.write(f"ok\nGET /cb?code={CODE}\n")
    report = logscan.scan_paths([str(log)])
    assert [(f.line, f.kind) for f in report.findings] == [(2, "authorization_code")]


def test_directories_are_searched_recursively_and_binary_files_skipped(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.log").write_text(f"x\ncode_verifier={VERIFIER}\n")
    (tmp_path / "image.bin").write_bytes(b"\x89PNG\x00\x00" + CODE.encode())
    report = logscan.scan_paths([str(tmp_path)])
    assert [(Path(f.path).name, f.line) for f in report.findings] == [("deep.log", 2)]
    assert report.skipped == [f"{tmp_path / 'image.bin'}: binary file"]


def test_standard_input_is_read_with_a_dash() -> None:
    result = run("-", stdin=f"hello\nAuthorization: Bearer {JWT}\n".encode())
    assert result.exit_code == 1
    assert result.stdout.startswith("<stdin>:2:23: authorization_header [PKLEAK008] eyJh…")


def test_a_missing_path_is_a_usage_error() -> None:
    result = run(str(FIXTURES / "no-such.log"))
    assert result.exit_code == 2
    assert "no-such.log: no such file or directory" in result.stderr


# --- the command ----------------------------------------------------------------------------

def test_text_output_is_file_line_column_kind_and_masked_value() -> None:
    result = run(str(LEAKS / "debug.log"))
    assert result.exit_code == 1
    first = result.stdout.splitlines()[0]
    assert re.fullmatch(r".*debug\.log:1:100: refresh_token \[PKLEAK004\] \S{4}… \(43 chars\)",
                        first), first
    assert "11 leaked secret(s) in 1 file(s)" in result.stderr


def test_no_fail_reports_but_exits_zero() -> None:
    result = run("--no-fail", str(LEAKS))
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == len(EXPECTED)


def test_a_clean_log_exits_zero() -> None:
    result = run(str(BENIGN))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no leaked secrets" in result.stderr


def _secrets() -> list[str]:
    values = []
    for finding in logscan.scan_paths([str(LEAKS)]).findings:
        line = Path(finding.path).read_text().splitlines()[finding.line - 1]
        values.append(line[finding.column - 1:finding.end_column - 1])
    return values


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_no_output_format_prints_a_secret(fmt: str) -> None:
    result = run("--format", fmt, str(LEAKS))
    assert result.exit_code == 1
    for secret in _secrets():
        assert secret not in result.output


def test_json_output_lists_findings_and_a_summary() -> None:
    data = json.loads(run("--format", "json", str(LEAKS)).stdout)
    assert data["summary"]["findings"] == len(EXPECTED) == len(data["findings"])
    assert set(data["findings"][0]) == {"path", "line", "column", "end_column", "kind",
                                        "rule_id", "value", "length"}


def test_sarif_output_is_a_valid_sarif_2_1_0_log() -> None:
    sarif = json.loads(run("--format", "sarif", str(LEAKS)).stdout)
    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"].endswith("sarif-schema-2.1.0.json")
    [sarif_run] = sarif["runs"]
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] == "proofkey scan-logs"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids == [rule.id for rule in logscan.RULES]
    assert all(rule["shortDescription"]["text"] for rule in driver["rules"])
    assert len(sarif_run["results"]) == len(EXPECTED)
    for result in sarif_run["results"]:
        assert result["ruleId"] in rule_ids
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] == "error"
        assert result["message"]["text"]
        [location] = result["locations"]
        physical = location["physicalLocation"]
        assert re.fullmatch(r"[A-Za-z0-9._~/%:-]+", physical["artifactLocation"]["uri"])
        region = physical["region"]
        assert region["startLine"] >= 1
        assert region["endColumn"] > region["startColumn"] >= 1


# --- Sigma rules ----------------------------------------------------------------------------

def sigma_rules() -> dict[str, dict[str, Any]]:
    rules = {}
    for path in sorted(SIGMA.glob("*.yml")):
        rule = yaml.safe_load(path.read_text())
        rules[rule["proofkey_rule"]] = rule
    return rules


def _search(identifier: Any, line: str) -> bool:
    patterns = identifier["|re"] if isinstance(identifier, dict) else identifier
    return any(re.search(p, line) for p in patterns)


def sigma_matches(rule: dict[str, Any], line: str) -> bool:
    """Evaluate a keyword rule's condition: identifiers joined by and / or / not."""
    detection = rule["detection"]
    tokens = detection["condition"].replace("(", " ( ").replace(")", " ) ").split()
    words = [t if t in {"and", "or", "not", "(", ")"} else
             str(_search(detection[t], line)) for t in tokens]
    return bool(eval(" ".join(words)))  # noqa: S307 - only True/False/and/or/not/parens


def test_there_is_one_valid_sigma_rule_per_secret_kind() -> None:
    rules = sigma_rules()
    assert sorted(rules) == sorted(rule.id for rule in logscan.RULES)
    ids = set()
    for rule in rules.values():
        assert rule["title"]
        assert len(rule["title"]) <= 256
        ids.add(str(uuid.UUID(rule["id"])))
        assert rule["status"] in {"stable", "test", "experimental", "deprecated", "unsupported"}
        assert rule["description"].strip()
        assert isinstance(rule["logsource"], dict)
        assert rule["logsource"]
        assert rule["level"] in {"informational", "low", "medium", "high", "critical"}
        assert all(re.fullmatch(r"[a-z0-9_-]+\.[a-z0-9._-]+", tag) for tag in rule["tags"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(rule["date"]))
        detection = rule["detection"]
        assert isinstance(detection["condition"], str)
        assert "keywords" in detection
        for name, identifier in detection.items():
            if name != "condition":
                assert identifier["|re"]
                assert all(re.compile(p) for p in identifier["|re"])
    assert len(ids) == len(rules)


@pytest.mark.parametrize("kind", logscan.KINDS)
def test_each_sigma_rule_matches_the_leak_samples_of_its_kind(kind: str) -> None:
    rule = sigma_rules()[logscan.RULES_BY_KIND[kind].id]
    samples = [leak_line(e) for e in EXPECTED if e["kind"] == kind]
    assert samples
    for line in samples:
        assert sigma_matches(rule, line), f"{rule['title']} misses: {line}"


def test_no_sigma_rule_matches_the_benign_corpus() -> None:
    lines = [line for path in sorted(BENIGN.iterdir()) for line in path.read_text().splitlines()]
    lines += _generated_benign_lines(300)
    for rule in sigma_rules().values():
        hits = [line for line in lines if sigma_matches(rule, line)]
        assert hits == [], f"{rule['title']} matches benign lines: {hits[:3]}"
