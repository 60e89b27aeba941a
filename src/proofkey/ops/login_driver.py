"""Reach the end of an authorization request as a user would, over plain HTTP: follow the
provider's redirects, sign in through its HTML login form, approve its consent form, and stop
at the first redirect that leaves the provider, without following it (RFC 6749 §4.1.1–4.1.2).

The form reading is generic: hidden inputs (CSRF tokens) are copied, the form's own action
and method are used, and the login and consent fields are found by type or configured names,
so it works with proofkey's pages and with e.g. node-oidc-provider's ``devInteractions``.
The browser driver (``browser_login``) plans its clicks with the same functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal, Protocol
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

__all__ = [
    "MAX_STEPS",
    "REDIRECT_STATUSES",
    "AuthzOutcome",
    "Control",
    "Form",
    "FormNavigator",
    "LoginSettings",
    "Navigator",
    "Step",
    "parse_forms",
    "plan_step",
]

MAX_STEPS = 12
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# The default allow-decision: a submit control whose value says yes (or, failing that, whose
# label does); a form with a single submit control that does not say no is taken as consent.
_ALLOW_VALUES = ("allow", "accept", "approve", "yes")
_ALLOW_LABELS = (*_ALLOW_VALUES, "authorize", "authorise", "continue", "confirm", "consent",
                 "grant")
_DENY_LABELS = ("deny", "cancel", "reject", "decline", "no", "abort", "refuse")
_TEXT_TYPES = frozenset({"", "text", "email", "tel"})


@dataclass(frozen=True, slots=True)
class LoginSettings:
    """How to sign in and approve: credentials, and optional field names that override the
    detection (``consent_field``/``consent_value``: the control that means "allow")."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    username_field: str | None = None
    password_field: str | None = None
    consent_field: str | None = None
    consent_value: str | None = None


@dataclass(frozen=True, slots=True)
class AuthzOutcome:
    """Where an authorization request ended: a redirect out of the provider (not followed),
    or a page of the provider that offered no way on (``note`` says why)."""

    redirect: str | None
    status: int | None
    note: str = ""

    @property
    def query(self) -> dict[str, str]:
        """The redirect's query parameters (first values), empty without a redirect."""
        if self.redirect is None:
            return {}
        parsed = parse_qs(urlsplit(self.redirect).query, keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}


class Navigator(Protocol):
    """A user agent that takes an authorization URL to its outcome; ``stop(url)`` says which
    navigations count as the way back to the client (they are captured, never loaded)."""

    async def authorize(self, url: str, stop: Callable[[str], bool]) -> AuthzOutcome: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Control:
    tag: str
    type: str
    name: str
    value: str
    label: str = ""
    checked: bool = False

    @property
    def is_submit(self) -> bool:
        if self.tag == "button":
            return self.type in {"", "submit"}
        return self.tag == "input" and self.type in {"submit", "image"}

    def says(self, words: tuple[str, ...]) -> bool:
        text = f"{self.value} {self.label}".strip().lower()
        return any(text == w or text.startswith((f"{w} ", f"{w},")) for w in words)


@dataclass(frozen=True, slots=True)
class Form:
    action: str
    method: str
    controls: tuple[Control, ...]
    index: int

    @property
    def submits(self) -> tuple[Control, ...]:
        return tuple(c for c in self.controls if c.is_submit)

    def named(self, name: str) -> Control | None:
        return next((c for c in self.controls if c.name == name), None)

    def password(self, name: str | None) -> Control | None:
        if name is not None:
            return self.named(name)
        return next((c for c in self.controls if c.tag == "input" and c.type == "password"),
                    None)

    def username(self, name: str | None) -> Control | None:
        if name is not None:
            return self.named(name)
        return next((c for c in self.controls if c.tag == "input" and c.type in _TEXT_TYPES
                     and c.name), None)

    def base_data(self) -> list[tuple[str, str]]:
        """What the form sends by itself: hidden inputs, prefilled fields, checked boxes."""
        data = []
        for c in self.controls:
            if not c.name or c.is_submit or c.type in {"password", "button", "reset", "file"}:
                continue
            if c.type in {"checkbox", "radio"} and not c.checked:
                continue
            data.append((c.name, c.value))
        return data


class _FormParser(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.forms: list[Form] = []
        self._form: dict[str, str] | None = None
        self._controls: list[Control] = []
        self._open: dict[str, str] | None = None  # button, option or textarea being read
        self._text: list[str] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        a["checked"] = "1" if any(k.lower() in {"checked", "selected"} for k, _ in attrs) else ""
        if tag == "form":
            self._form, self._controls = a, []
        elif self._form is None:
            return
        elif tag == "input":
            self._controls.append(Control("input", a.get("type", "").lower(), a.get("name", ""),
                                          a.get("value", ""), checked=bool(a["checked"])))
        elif tag in {"button", "textarea"}:
            self._open, self._text = {**a, "tag": tag}, []
        elif tag == "select":
            self._select, self._options = a.get("name", ""), []
        elif tag == "option" and self._select is not None:
            self._open, self._text = {**a, "tag": "option"}, []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        text = " ".join("".join(self._text).split())
        if self._open is not None and tag == self._open["tag"]:
            opened, self._open = self._open, None
            if tag == "button":
                self._controls.append(Control("button", opened.get("type", "").lower(),
                                              opened.get("name", ""), opened.get("value", ""),
                                              label=text))
            elif tag == "textarea":
                self._controls.append(Control("textarea", "", opened.get("name", ""), text))
            else:
                self._options.append((opened.get("value", text), bool(opened["checked"])))
        elif tag == "select" and self._select is not None:
            chosen = next((v for v, s in self._options if s), None)
            value = chosen if chosen is not None else (self._options or [("", False)])[0][0]
            self._controls.append(Control("select", "", self._select, value))
            self._select = None
        elif tag == "form" and self._form is not None:
            action = urljoin(self.base_url, self._form.get("action") or self.base_url)
            method = (self._form.get("method") or "get").upper()
            self.forms.append(Form(action, "POST" if method == "POST" else "GET",
                                   tuple(self._controls), len(self.forms)))
            self._form = None


def parse_forms(html: str, base_url: str) -> list[Form]:
    """Every form on the page, with actions resolved against ``base_url``."""
    parser = _FormParser(base_url)
    parser.feed(html)
    parser.close()
    return parser.forms


@dataclass(frozen=True, slots=True)
class Step:
    """One form to submit: ``data`` is the body; ``submit`` the control to click, if any."""

    kind: Literal["login", "consent"]
    form: Form
    data: list[tuple[str, str]] = field(repr=False)
    submit: Control | None
    user_field: str | None = None
    password_field: str | None = None


def plan_step(forms: list[Form], settings: LoginSettings) -> Step | str | None:
    """The login or consent form to submit next; a reason (str) if we cannot; None if the
    page has neither."""
    for form in forms:
        password = form.password(settings.password_field)
        if password is None:
            continue
        user = form.username(settings.username_field)
        if settings.username is None or settings.password is None:
            return "the provider shows a login form but no --username/--password were given"
        if user is None:
            return "the login form has no username field (set --username-field)"
        data = [(n, v) for n, v in form.base_data() if n not in {user.name, password.name}]
        data += [(user.name, settings.username), (password.name, settings.password)]
        submit = next((c for c in form.submits if not c.says(_DENY_LABELS)), None)
        if submit is not None and submit.name:
            data.append((submit.name, submit.value))
        return Step("login", form, data, submit, user.name, password.name)
    for form in forms:
        allow = _allow_control(form, settings)
        if allow is None:
            continue
        data = form.base_data()
        if allow.name:
            data = [(n, v) for n, v in data if n != allow.name]
            data.append((allow.name, settings.consent_value or allow.value))
        return Step("consent", form, data, allow if allow.is_submit else None)
    return None


def _allow_control(form: Form, settings: LoginSettings) -> Control | None:
    if settings.consent_field is not None:
        wanted = [c for c in form.controls if c.name == settings.consent_field]
        exact = [c for c in wanted if c.value == settings.consent_value]
        return next(iter(exact or wanted), None)
    submits = form.submits
    for words, test in ((_ALLOW_VALUES, "value"), (_ALLOW_LABELS, "label")):
        for control in submits:
            if control.says(words) if test == "label" else control.value.lower() in words:
                return control
    if len(submits) == 1 and not submits[0].says(_DENY_LABELS):
        return submits[0]
    return None


class FormNavigator:
    """A cookie-keeping HTTP user agent that logs in and consents by submitting forms."""

    def __init__(self, http: httpx.AsyncClient, settings: LoginSettings) -> None:
        self.http = http
        self.settings = settings

    async def authorize(self, url: str, stop: Callable[[str], bool]) -> AuthzOutcome:
        method, target, body = "GET", url, b""
        submitted: set[str] = set()
        for _ in range(MAX_STEPS):
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
            response = await self.http.request(method, target, content=body or None,
                                               headers=headers)
            location = response.headers.get("location")
            if response.status_code in REDIRECT_STATUSES and location is not None:
                target = urljoin(str(response.url), location)
                if stop(target):
                    return AuthzOutcome(target, response.status_code)
                if response.status_code not in {307, 308}:
                    method, body = "GET", b""
                continue
            content_type = response.headers.get("content-type", "")
            forms = parse_forms(response.text, str(response.url)) if "html" in content_type else []
            step = plan_step(forms, self.settings)
            if step is None or isinstance(step, str):
                return AuthzOutcome(None, response.status_code, step or "a page without a "
                                    "login or consent form")
            if step.kind in submitted:
                return AuthzOutcome(None, response.status_code,
                                    f"the {step.kind} form came back after it was submitted")
            submitted.add(step.kind)
            method, target, body = _submission(step)
        return AuthzOutcome(None, None, f"no outcome after {MAX_STEPS} steps")

    async def aclose(self) -> None:
        await self.http.aclose()


def _submission(step: Step) -> tuple[str, str, bytes]:
    encoded = urlencode(step.data)
    if step.form.method == "GET":
        base = step.form.action.partition("?")[0].partition("#")[0]
        return "GET", f"{base}?{encoded}", b""
    return "POST", step.form.action, encoded.encode()
