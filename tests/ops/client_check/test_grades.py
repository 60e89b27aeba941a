"""The client-check grading on recorded exchanges, for what no broken client process
exercises cheaply: leaks through a Referer or a later URL, PAR grouping, the state estimate."""

from __future__ import annotations

from proofkey.ops.client_check_grades import estimated_bits, grade
from proofkey.ops.client_check_record import Exchange
from proofkey.protocol import pkce

REDIRECT = "http://127.0.0.1/callback"
STATE = "k2Qf0pX9sV7yLm3TzR8wBn4cHj6dAe1u"
NONCE = "q8Wz3LmN5pRt7VyB2xKc9DfGh4JsAe6u"


def attempt(seq: int, verifier: str, *, pushed: bool = False, state: str = STATE,
            code: str = "code-1") -> list[Exchange]:
    """An attempt that ends with a code redeemed: (PAR +) /authorize, then /token."""
    params = (("response_type", "code"), ("client_id", "app"), ("redirect_uri", REDIRECT),
              ("scope", "openid"), ("state", state), ("nonce", NONCE + str(seq)),
              ("code_challenge", pkce.challenge_s256(verifier)),
              ("code_challenge_method", "S256"))
    location = f"{REDIRECT}?code={code}&state={state}&iss=http%3A%2F%2F127.0.0.1"
    if pushed:
        uri = f"urn:ietf:params:oauth:request_uri:{seq}"
        exchanges = [Exchange(seq, "POST", "/par", form=params, status=201,
                              body={"request_uri": uri}),
                     Exchange(seq + 1, "GET", "/authorize",
                              query=(("client_id", "app"), ("request_uri", uri)), status=303,
                              location=location)]
    else:
        exchanges = [Exchange(seq, "GET", "/authorize", query=params, status=303,
                              location=location)]
    token = Exchange(seq + 2, "POST", "/token", form=(
        ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT),
        ("code_verifier", verifier)), status=200,
        body={"access_token": f"at-{code}-0123456789", "refresh_token": f"rt-{code}"})
    return [*exchanges, token]


def checks_failed(exchanges: list[Exchange],
                  **options: bool | str) -> list[tuple[str, int | None]]:
    return [(f.check, f.attempt) for f in grade(exchanges, attempts=1, **options).findings]


def test_a_clean_attempt_has_no_finding_pushed_or_not() -> None:
    assert checks_failed(attempt(1, pkce.new_verifier())) == []
    assert checks_failed(attempt(1, pkce.new_verifier(), pushed=True),
                         require_par=True) == []


def test_a_request_sent_to_authorize_fails_par_required_only_when_required() -> None:
    exchanges = attempt(1, pkce.new_verifier())
    assert checks_failed(exchanges) == []
    assert checks_failed(exchanges, require_par=True) == [("par-required", 1)]


def test_the_pushed_parameters_are_graded_for_the_attempt_opened_at_par() -> None:
    verifier = pkce.new_verifier()
    exchanges = attempt(1, verifier, pushed=True) + attempt(
        10, verifier, pushed=True, code="code-2", state=STATE[::-1])
    assert checks_failed(exchanges) == [("challenge-fresh", 2)]


def test_a_verifier_in_a_referer_fails_verifier_confined() -> None:
    verifier = pkce.new_verifier()
    page = Exchange(9, "GET", "/favicon.ico", headers={
        "referer": f"http://127.0.0.1:5000/debug?v={verifier}"})
    assert checks_failed([*attempt(1, verifier), page]) == [("verifier-confined", 1)]


def test_a_verifier_is_recognised_by_its_hash_before_any_token_request() -> None:
    verifier = pkce.new_verifier()
    leak = Exchange(1, "GET", "/jwks", query=(("debug", verifier),))
    found = grade([*attempt(2, verifier)[:1], leak], attempts=1).findings
    assert [(f.check, f.attempt) for f in found] == [("verifier-confined", 1)]
    assert verifier not in found[0].evidence
    assert verifier[:4] + "…" in found[0].evidence


def test_an_issued_token_in_a_later_url_fails_token_in_url() -> None:
    later = Exchange(9, "GET", "/userinfo", query=(("access_token", "at-code-1-0123456789"),))
    assert checks_failed([*attempt(1, pkce.new_verifier()), later]) == [("token-in-url", None)]


def test_state_strength_is_estimated_from_length_and_alphabet() -> None:
    assert estimated_bits("") == 0
    assert estimated_bits("123456") < 20
    assert estimated_bits("0" * 64) < 16  # long, but one character over and over
    assert estimated_bits("9f86d081884c7d659a2feaa0c55ad015") == 128  # 32 hex digits
    assert estimated_bits(STATE) > 128  # 32 base64url characters


def test_an_old_refresh_token_is_traced_to_the_sign_in_it_came_from() -> None:
    def refresh(seq: int, used: str, new: str) -> Exchange:
        return Exchange(seq, "POST", "/token", form=(
            ("grant_type", "refresh_token"), ("refresh_token", used)), status=200,
            body={"access_token": f"at-{new}-0123456789", "refresh_token": new})

    exchanges = [*attempt(1, pkce.new_verifier()), refresh(4, "rt-code-1", "rt-2"),
                 refresh(5, "rt-2", "rt-3"), refresh(6, "rt-2", "rt-4")]
    found = grade(exchanges, attempts=1).findings
    assert [(f.check, f.attempt) for f in found] == [("refresh-rotation", 1)]
    assert "request #6 used refresh token rt-2… (sha256:" in found[0].evidence
    assert found[0].evidence.endswith("replaced by a new one in request #5")


def test_a_request_at_the_decoy_fails_redirect_not_followed_and_names_what_it_resent() -> None:
    from proofkey.ops.client_check_profiles import DECOY_PATH

    verifier = pkce.new_verifier()
    exchanges = attempt(1, verifier)
    redeem = exchanges[-1]
    exchanges[-1] = Exchange(redeem.seq, "POST", "/token", form=redeem.form, status=307,
                             location=f"http://127.0.0.1{DECOY_PATH}")
    assert checks_failed(exchanges) == []
    followed = Exchange(redeem.seq + 1, "POST", DECOY_PATH, form=redeem.form, status=400)
    [finding] = grade([*exchanges, followed], attempts=1).findings
    assert (finding.check, finding.attempt) == ("redirect-not-followed", 1)
    assert finding.evidence == (
        f"followed the 307 of request #{redeem.seq} to POST {DECOY_PATH} (an unregistered "
        "URI), sending code, code_verifier, grant_type, redirect_uri")
    assert verifier not in finding.evidence


def test_par_only_under_fapi2_and_state_optional_there() -> None:
    exchanges = attempt(1, pkce.new_verifier(), pushed=True)
    assert checks_failed(exchanges, profile="fapi2") == []
    front = exchanges[1]
    leaky = Exchange(front.seq, "GET", "/authorize", query=(*front.query, ("scope", "openid")),
                     status=303, location=front.location)
    assert [(f.check, f.attempt, f.evidence) for f in grade(
        [exchanges[0], leaky, exchanges[2]], attempts=1, profile="fapi2").findings] == [
        ("par-only", 1, "GET /authorize also carried scope outside the pushed request")]
    stateless = attempt(1, pkce.new_verifier(), pushed=True, state="")
    assert checks_failed(stateless) == [("state", 1)]
    assert grade(stateless, attempts=1, profile="fapi2").findings == ()
