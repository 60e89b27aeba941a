"""``proofkey lint``: client registrations from any provider (RFC 7591 metadata, Keycloak,
Auth0, Duende, kebab-case) and proofkey's own store, audited against OAuth 2.1 policy."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from proofkey.models import Client
from proofkey.ops import lint_client
from proofkey.ops.lint_client import Policy, parse_duration, view_of
from proofkey.ops.tools_cli import lint, probe, scan_logs
from proofkey.store import Store
from tests.process.conftest import seed, with_store

FIXTURES = Path(__file__).parent / "fixtures" / "lint"


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("scan-logs")(scan_logs)
    app.command("lint")(lint)
    app.command("probe")(probe)
    return app


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli(), ["lint", *args], env=env)


def issues_of(*args: str) -> tuple[int, dict[str, list[tuple[str, str]]]]:
    """Exit status, and (severity, rule) per client from the JSON output."""
    result = run("--format", "json", *args)
    by_client: dict[str, list[tuple[str, str]]] = {}
    for issue in json.loads(result.stdout)["issues"]:
        by_client.setdefault(issue["client"], []).append((issue["severity"], issue["rule"]))
    return result.exit_code, by_client


def rules_of(metadata: dict[str, Any], policy: Policy | None = None) -> list[str]:
    return [i.rule for i in lint_client.lint(view_of(metadata, "x"), policy or Policy())]


# --- files from any provider ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["good_public.json", "good_confidential.yaml"])
def test_a_compliant_client_passes_with_no_issue(name: str) -> None:
    result = run(str(FIXTURES / name))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "0 error(s), 0 warning(s), 0 info in 1 client(s)" in result.stderr


def test_every_policy_rule_fires_on_the_client_that_breaks_it() -> None:
    status, found = issues_of(str(FIXTURES / "bad_clients.json"))
    assert status == 1
    assert found == {
        "spa-no-pkce": [("error", "PKL001")],
        "web-no-pkce": [("warning", "PKL001")],
        "wildcards": [("error", "PKL010"), ("error", "PKL010"), ("warning", "PKL011")],
        "insecure-redirects": [
            ("error", "PKL012"), ("error", "PKL014"), ("error", "PKL015"), ("error", "PKL015"),
            ("error", "PKL015"), ("error", "PKL016"), ("warning", "PKL013"),
            ("warning", "PKL016")],
        "legacy-implicit": [("error", "PKL020"), ("error", "PKL021")],
        "oidc-hybrid": [("warning", "PKL022")],
        "none-with-secret": [("error", "PKL030"), ("warning", "PKL032")],
        "confidential-unauthenticated": [("error", "PKL031")],
        "plain-pkce": [("error", "PKL002")],
        "slow-codes": [("warning", "PKL040"), ("warning", "PKL041")],
    }  # "machine" (client_credentials only) has no issue


def test_a_keycloak_realm_export_is_read_through_its_clients_list() -> None:
    status, found = issues_of(str(FIXTURES / "keycloak-realm.json"))
    assert status == 1
    # publicClient, implicitFlowEnabled, directAccessGrantsEnabled, an empty
    # attributes["pkce.code.challenge.method"] and a /* redirect URI
    assert found == {"legacy-portal": [("error", "PKL001"), ("error", "PKL010"),
                                       ("error", "PKL020"), ("error", "PKL021")]}


def test_an_auth0_tenant_file_in_yaml_is_read_with_its_own_spellings() -> None:
    status, found = issues_of(str(FIXTURES / "auth0-tenant.yaml"))
    assert status == 1
    assert found == {
        "mkt-spa": [("error", "PKL001"), ("error", "PKL020"), ("warning", "PKL013"),
                    ("warning", "PKL041"), ("warning", "PKL042")],
        "billing-web": [("error", "PKL021"), ("warning", "PKL001")],
    }


def test_duende_settings_that_allow_plain_pkce_are_an_error() -> None:
    assert issues_of(str(FIXTURES / "duende-clients.json")) == (
        1, {"mobile": [("error", "PKL002")]})


def test_warnings_alone_do_not_fail_the_run() -> None:
    status, found = issues_of(str(FIXTURES / "kebab-case-client.yml"))
    assert status == 0
    assert found == {"orders-web": [("warning", "PKL001"), ("warning", "PKL040"),
                                    ("warning", "PKL041")]}


def test_text_output_names_severity_rule_client_and_the_field() -> None:
    result = run(str(FIXTURES / "kebab-case-client.yml"))
    assert result.stdout.splitlines()[1].startswith(
        "warning PKL040  orders-web: token.authorization-code-time-to-live: authorization code "
        "lifetime 30m exceeds 10m")


def test_the_lifetime_limits_are_options() -> None:
    status, found = issues_of("--max-code-ttl", "PT1H", "--max-refresh-ttl", "100d",
                              str(FIXTURES / "kebab-case-client.yml"))
    assert (status, found) == (0, {"orders-web": [("warning", "PKL001")]})
    assert run("--max-code-ttl", "soon", str(FIXTURES / "good_public.json")).exit_code == 2


def test_several_files_are_audited_in_one_run() -> None:
    result = run(str(FIXTURES / "good_public.json"), str(FIXTURES / "duende-clients.json"))
    assert result.exit_code == 1
    assert "1 error(s), 0 warning(s), 0 info in 2 client(s)" in result.stderr


@pytest.mark.parametrize("args", [[], ["--from-db", str(FIXTURES / "good_public.json")],
                                  [str(FIXTURES / "not-metadata.txt")],
                                  [str(FIXTURES / "missing.json")]])
def test_unusable_input_is_a_usage_error(args: list[str]) -> None:
    assert run(*args).exit_code == 2


# --- rules on their own ---------------------------------------------------------------------

@pytest.mark.parametrize(("metadata", "expected"), [
    ({"token_endpoint_auth_method": "none", "redirect_uris": ["https://a.example/cb"]},
     ["PKL001"]),
    ({"token_endpoint_auth_method": "none", "pkce_required": "true",
      "redirect_uris": ["https://a.example/cb"]}, []),
    ({"token_endpoint_auth_method": "none", "require_pkce": False,
      "code_challenge_method": "S256", "redirect_uris": ["https://a.example/cb"]}, ["PKL001"]),
    ({"client_type": "public", "settings": {"oauthClient": {"pkce_required": True}},
      "redirect_uris": ["https://a.example/cb"]}, []),
    ({"token_endpoint_auth_method": "none", "code_challenge_method": "S256",
      "redirect_uris": ["http://127.0.0.1:8080/cb", "http://[::1]/cb"]}, []),
    ({"token_endpoint_auth_method": "none", "code_challenge_method": "S256",
      "redirect_uris": ["https://app.example/"]}, ["PKL011"]),
    ({"token_endpoint_auth_method": "none", "code_challenge_method": "S256",
      "redirect_uris": ["vbscript:msgbox"]}, ["PKL015"]),
    ({"token_endpoint_auth_method": "none", "code_challenge_method": "S256",
      "grant_types": ["authorization_code"]}, ["PKL017"]),
    ({"token_endpoint_auth_method": "none", "code_challenge_method": "S256",
      "response_types": ["id_token"], "redirect_uris": ["https://a.example/cb"]}, ["PKL020"]),
    ({"token_endpoint_auth_method": "none", "code_challenge_method": "S256",
      "client_secret": "x" * 40, "client_type": "public",
      "redirect_uris": ["https://a.example/cb"]}, ["PKL030"]),
    ({"publicClient": True, "secret": "a-secret-of-enough-length-0123456789",
      "attributes": {"pkce.code.challenge.method": "S256"},
      "redirectUris": ["https://a.example/cb"]}, ["PKL033"]),
])
def test_a_rule_fires_only_on_what_the_metadata_states(metadata: dict[str, Any],
                                                         expected: list[str]) -> None:
    assert rules_of(metadata) == expected


@pytest.mark.parametrize(("text", "seconds"), [
    (600, 600.0), ("600", 600.0), ("10m", 600.0), ("1.5h", 5400.0), ("30d", 2592000.0),
    ("2w", 1209600.0), ("PT5M", 300.0), ("P1DT2H", 93600.0), ("P90D", 7776000.0),
    ("300.000000000", 300.0), ("soon", None), ("P", None), (True, None), (None, None),
])
def test_durations_are_read_in_the_spellings_providers_use(text: object,
                                                           seconds: float | None) -> None:
    assert parse_duration(text) == seconds


# --- proofkey's own clients -----------------------------------------------------------------

def test_from_db_audits_the_clients_in_proofkeys_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed(data, public_clients={"native-app": ["http://127.0.0.1/callback"]},
         confidential_clients={"web-app": ["https://app.example.com/"]})

    async def add_legacy_row(store: Store) -> None:
        # A row written before redirect URIs were validated on registration.
        await store.add_client(Client(
            "legacy", "public", ("http://legacy.example.com/cb",), frozenset({"openid"}),
            frozenset({"authorization_code"}), "none", created_at=int(time.time())))

    with_store(data, add_legacy_row)
    env = {"PROOFKEY_DATA_DIR": str(data), "PROOFKEY_GRANT_TTL_SECONDS": str(90 * 86400)}
    result = run("--from-db", "--format", "json", env=env)
    assert result.exit_code == 1, result.output
    found = {(i["client"], i["severity"], i["rule"]) for i in json.loads(result.stdout)["issues"]}
    assert found == {("legacy", "error", "PKL012"), ("web-app", "warning", "PKL011"),
                     ("(settings)", "warning", "PKL041")}


def test_from_db_with_defaults_and_good_clients_is_clean(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed(data, public_clients={"native-app": ["http://127.0.0.1/callback"]},
         confidential_clients={"web-app": ["https://app.example.com/cb"]})
    result = run("--from-db", env={"PROOFKEY_DATA_DIR": str(data)})
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_from_db_reports_a_store_it_cannot_read(tmp_path: Path) -> None:
    result = run("--from-db", env={"PROOFKEY_DATA_DIR": str(tmp_path / "empty")})
    assert result.exit_code == 2
    assert "cannot read clients from the store" in result.stderr


# --- the tools' own imports -----------------------------------------------------------------

def _proofkey_imports(path: Path) -> set[tuple[str, str]]:
    """(module imported, enclosing function or '') for every proofkey import in ``path``."""
    found: set[tuple[str, str]] = set()

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) \
                else function
            names = [a.name for a in child.names] if isinstance(child, ast.Import) else \
                [child.module or ""] if isinstance(child, ast.ImportFrom) else []
            found.update((n, function) for n in names if n.startswith("proofkey"))
            visit(child, inner)

    visit(ast.parse(path.read_text()), "")
    return found


def test_the_operator_tools_import_only_protocol_and_sdk_but_lint_from_db() -> None:
    ops = Path(lint_client.__file__).parent
    allowed = ("proofkey.protocol", "proofkey.sdk", "proofkey.ops")
    for name in ("logscan.py", "lint_client.py", "probe.py", "tools_cli.py"):
        for module, function in _proofkey_imports(ops / name):
            if module in ("proofkey.settings", "proofkey.store"):
                assert (name, function) == ("tools_cli.py", "_from_db"), (name, module)
            elif module == "proofkey.models":
                assert name == "tools_cli.py", "type annotations of lint --from-db only"
            else:
                assert module == "proofkey" or module.startswith(allowed), (name, module)
