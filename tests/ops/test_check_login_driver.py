"""The login driver reads generic HTML forms: it finds the login form by its password field,
copies hidden inputs (CSRF tokens), follows the form's action, and approves consent with the
control that means "allow" — by value, by label, as the only button, or as configured."""

from __future__ import annotations

import httpx

from proofkey.ops.login_driver import FormNavigator, LoginSettings, Step, parse_forms, plan_step

BASE = "http://127.0.0.1:3000/interaction/abc"
CREDENTIALS = LoginSettings("alice", "s3cret-password")

# Shaped like node-oidc-provider's devInteractions pages.
NODE_LOGIN = """<form autocomplete="off" action="/interaction/abc/login" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Enter any login" autofocus="on">
  <input required type="password" name="password" placeholder="and password">
  <label><input type="checkbox" name="remember" value="yes" checked="yes">Stay</label>
  <label><input type="checkbox" name="spam" value="yes">Newsletter</label>
  <button type="submit" name="submit" class="login login-submit">Sign-in</button>
</form><a href="/interaction/abc/abort">[ Cancel ]</a>"""
NODE_CONSENT = """<ul><li>scopes:</li></ul>
<form autocomplete="off" action="/interaction/abc/confirm" method="post">
  <input type="hidden" name="prompt" value="consent"/>
  <button autofocus type="submit" class="login login-submit">Continue</button>
</form>"""
# Shaped like proofkey's consent page: deny comes first.
PROOFKEY_CONSENT = """<form method="post" action="/interaction/h/consent" class="actions">
  <input type="hidden" name="csrf" value="tok&amp;en">
  <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
  <button type="submit" name="decision" value="allow">Allow</button>
</form>"""


def plan(html: str, settings: LoginSettings = CREDENTIALS) -> Step:
    step = plan_step(parse_forms(html, BASE), settings)
    assert isinstance(step, Step), step
    return step


def test_a_node_style_login_form_is_filled_and_its_hidden_inputs_kept() -> None:
    step = plan(NODE_LOGIN)
    assert step.kind == "login"
    assert step.form.action == "http://127.0.0.1:3000/interaction/abc/login"
    assert step.form.method == "POST"
    assert (step.user_field, step.password_field) == ("login", "password")
    assert step.data == [("prompt", "login"), ("remember", "yes"), ("login", "alice"),
                         ("password", "s3cret-password"), ("submit", "")]


def test_a_consent_form_with_one_continue_button_is_submitted() -> None:
    step = plan(NODE_CONSENT)
    assert step.kind == "consent"
    assert step.data == [("prompt", "consent")]
    assert step.submit is not None
    assert step.submit.label == "Continue"


def test_the_allow_button_wins_over_deny_and_sends_its_value() -> None:
    step = plan(PROOFKEY_CONSENT)
    assert step.data == [("csrf", "tok&en"), ("decision", "allow")]
    assert step.submit is not None
    assert step.submit.value == "allow"


def test_the_allow_decision_can_be_configured() -> None:
    html = """<form action="/c" method="post"><input type="hidden" name="x" value="1">
      <input type="radio" name="choice" value="no" checked><input type="radio" name="choice"
      value="ok"><input type="submit" value="Send"><input type="submit" value="Back"></form>"""
    settings = LoginSettings(consent_field="choice", consent_value="ok")
    step = plan(html, settings)
    assert step.kind == "consent"
    assert step.data == [("x", "1"), ("choice", "ok")]


def test_a_form_that_only_says_no_is_not_consent() -> None:
    html = '<form action="/x"><button>Cancel</button></form>'
    assert plan_step(parse_forms(html, BASE), CREDENTIALS) is None


def test_field_names_can_be_configured_when_detection_would_guess_wrong() -> None:
    html = """<form action="/l" method="post"><input name="q" type="search" value="">
      <input name="nickname"><input name="email" type="email">
      <input name="pin" type="password"><input name="pw" type="password"><button>Go</button>
      <select name="lang"><option value="en">E</option><option value="fr" selected>F
      </option></select><textarea name="note">hi  there</textarea></form>"""
    step = plan(html, LoginSettings("bob", "pw-value", username_field="email",
                                    password_field="pw"))
    assert (step.user_field, step.password_field) == ("email", "pw")
    assert dict(step.data) == {"q": "", "nickname": "", "lang": "fr", "note": "hi there",
                               "email": "bob", "pw": "pw-value"}


def test_a_login_form_without_credentials_is_a_reason_not_a_guess() -> None:
    reason = plan_step(parse_forms(NODE_LOGIN, BASE), LoginSettings())
    assert reason == "the provider shows a login form but no --username/--password were given"


async def test_the_form_navigator_stops_at_the_redirect_without_following_it() -> None:
    seen: list[str] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path} {request.content.decode()}")
        if request.url.path == "/auth":
            return httpx.Response(302, headers={"Location": "/interaction/abc"})
        if request.url.path == "/interaction/abc" and request.method == "GET":
            page = NODE_CONSENT if "sid=1" in request.headers.get("cookie", "") else NODE_LOGIN
            return httpx.Response(200, html=page)
        if request.url.path.endswith("/login"):
            return httpx.Response(303, headers={"Location": "/interaction/abc",
                                                "Set-Cookie": "sid=1; Path=/"})
        return httpx.Response(303, headers={"Location": "http://127.0.0.1/cb?code=c&state=s"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(provider))
    navigator = FormNavigator(http, CREDENTIALS)
    outcome = await navigator.authorize("http://127.0.0.1:3000/auth?x=1",
                                        lambda url: url.startswith("http://127.0.0.1/cb"))
    await navigator.aclose()
    assert outcome.redirect == "http://127.0.0.1/cb?code=c&state=s"
    assert outcome.query == {"code": "c", "state": "s"}
    assert seen == [
        "GET /auth ", "GET /interaction/abc ",
        "POST /interaction/abc/login prompt=login&remember=yes&login=alice&password=s3cret-"
        "password&submit=", "GET /interaction/abc ", "POST /interaction/abc/confirm prompt=consent"]
