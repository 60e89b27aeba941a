"""``proofkey login|token|logout``: sign a CLI tool in with PKCE over a loopback redirect.

RFC 8252: the redirect URI is ``http://127.0.0.1:<ephemeral port>/callback``, which a provider
matches against the registered ``http://127.0.0.1/callback`` at any port. On a machine without a
browser, ``--device`` uses the device authorization grant (RFC 8628) instead: the person opens
the verification URI anywhere, enters the user code, and this command polls for the tokens.
Tokens are kept per issuer and client in a 0600 file (``$XDG_CONFIG_HOME/proofkey/tokens.json``).

DPoP (RFC 9449) is used when the provider advertises it, unless ``--no-dpop``: the tokens are
bound to a key kept beside the token file (``dpop-<tag>.jwk``, mode 0600), reused by later
runs to refresh, and deleted by ``logout``. A DPoP token only works with a proof from that
key (``Authorization: DPoP``), so ``proofkey token`` says which type it prints.
"""

from __future__ import annotations

import json
import sys
import webbrowser
from pathlib import Path
from typing import Annotated

import httpx
import typer

from proofkey.sdk import CallbackError, OAuthClient, OAuthClientError, TokenSet
from proofkey.sdk.dpop_session import DpopMode
from proofkey.sdk.loopback import LoopbackReceiver, LoopbackTimeout
from proofkey.sdk.tokencache import TokenCache

__all__ = ["login", "logout", "token"]

DEFAULT_CLIENT = "proofkey-cli"
DEFAULT_SCOPE = "openid profile offline_access"
IssuerOpt = Annotated[str | None, typer.Option(help="Issuer URL of the provider.")]
ClientOpt = Annotated[str | None, typer.Option(help="Client id (a public client).")]


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _fail(message: str) -> typer.Exit:
    _say(f"proofkey: {message}")
    return typer.Exit(1)


def _pick(cache: TokenCache, issuer: str | None, client_id: str | None) -> tuple[str, str]:
    if issuer:
        return issuer, client_id or DEFAULT_CLIENT
    entries = cache.entries()
    matching = [e for e in entries if client_id is None or e[1] == client_id]
    if not matching:
        raise _NotLoggedIn
    if len(matching) > 1:
        raise _fail("several logins are stored: pass --issuer (and --client-id)")
    return matching[0]


def _refused(exc: OAuthClientError) -> typer.Exit:
    if exc.error.startswith("dpop_key"):  # a local problem with the key file, not the provider
        return _fail(f"{exc.description}; or sign in without DPoP: --no-dpop")
    return _fail(f"the provider refused: {exc}")


class _NotLoggedIn(Exception):
    """No stored login matches."""


def login(
    issuer: Annotated[str, typer.Option(help="Issuer URL of the provider.")],
    client_id: Annotated[str, typer.Option(help="Public client id.")] = DEFAULT_CLIENT,
    scope: Annotated[str, typer.Option(help="Scopes to ask for.")] = DEFAULT_SCOPE,
    no_browser: Annotated[bool, typer.Option("--no-browser",
                                             help="Print the URL instead of opening it.")] = False,
    timeout: Annotated[int, typer.Option(
        help="Seconds to wait for the sign-in (--device waits as long as its code lives).")
    ] = 300,
    port: Annotated[int, typer.Option(help="Loopback port (0: any free port).")] = 0,
    device: Annotated[bool, typer.Option(
        "--device", help="Sign in with a code on another device (RFC 8628), for machines "
        "without a browser.")] = False,
    no_dpop: Annotated[bool, typer.Option(
        "--no-dpop", help="Do not bind the tokens to a key (DPoP, RFC 9449), even when the "
        "provider offers it: get plain Bearer tokens.")] = False,
) -> None:
    """Sign in through the browser with PKCE (or with a code, --device) and keep the tokens
    for `proofkey token`. The tokens are DPoP-bound when the provider offers it."""
    cache = TokenCache()
    dpop = _Dpop("off" if no_dpop else "auto", cache.dpop_key_path(issuer, client_id))
    if device:
        tokens = _device_login(issuer, client_id, scope, dpop)
    else:
        tokens = _loopback_login(issuer, client_id, scope, dpop, no_browser=no_browser,
                                 timeout=timeout, port=port)
    cache.put(issuer, client_id, tokens)
    who = _who(issuer, client_id, tokens, dpop.key_path)
    bound = " (DPoP-bound)" if tokens.dpop_bound else ""
    _say(f"Logged in to {issuer}" + (f" as {who}" if who else "")
         + f" (tokens{bound} in {cache.path})")


class _Dpop:
    """The DPoP choice of one run: the mode and the key file of the issuer and client."""

    def __init__(self, mode: DpopMode, key_path: Path) -> None:
        self.mode: DpopMode = mode
        self.key_path = key_path


def _who(issuer: str, client_id: str, tokens: TokenSet, key_path: Path) -> str | None:
    """A name a person recognises: preferred_username, name or email from the id_token, else
    from userinfo (best effort); the opaque ``sub`` only when there is nothing else."""
    claims = dict(tokens.id_claims or {})
    if not any(claims.get(k) for k in ("preferred_username", "name", "email")):
        try:  # a DPoP token goes with a proof from its key (the file), never as Bearer
            with OAuthClient(issuer, client_id, dpop_key=key_path) as client:
                claims.update(client.userinfo(tokens))
        except (OAuthClientError, OSError, httpx.HTTPError, ValueError):
            pass
    handle = claims.get("preferred_username") or claims.get("email") or claims.get("name")
    extras = [str(claims[k]) for k in ("name", "email")
              if claims.get(k) and claims.get(k) != handle]
    if handle:
        return str(handle) + (f" ({', '.join(extras)})" if extras else "")
    sub = claims.get("sub")
    return str(sub) if sub else None


def _loopback_login(issuer: str, client_id: str, scope: str, dpop: _Dpop, *, no_browser: bool,
                    timeout: int, port: int) -> TokenSet:
    try:
        receiver = LoopbackReceiver(port=port)
    except OSError as exc:
        raise _fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    with receiver, OAuthClient(issuer, client_id, receiver.redirect_uri, scope=scope,
                               dpop=dpop.mode, dpop_key=dpop.key_path) as client:
        try:
            request = client.authorization_request()
            _say("Open this URL in a browser to sign in:")
            print(request.url, flush=True)
            if not no_browser:
                webbrowser.open(request.url)
            callback = receiver.wait(timeout)
            tokens = client.complete(callback, request)
        except LoopbackTimeout as exc:
            raise _fail(f"{exc}; run `proofkey login` again") from None
        except CallbackError as exc:
            if exc.error == "access_denied":
                raise _fail("sign-in was denied") from None
            raise _fail(f"sign-in failed: {exc}") from None
        except OAuthClientError as exc:
            raise _refused(exc) from None
        except OSError as exc:
            raise _fail(f"cannot reach {issuer}: {exc}") from None
    return tokens


def _device_login(issuer: str, client_id: str, scope: str, dpop: _Dpop) -> TokenSet:
    """RFC 8628: show the code, then poll until the person approves it elsewhere."""
    with OAuthClient(issuer, client_id, scope=scope, dpop=dpop.mode,
                     dpop_key=dpop.key_path) as client:
        try:
            device = client.device_authorization()
            _say(f"To sign in, open {device.verification_uri} in a browser on any device")
            _say(f"and enter the code:  {device.user_code}")
            if device.verification_uri_complete:
                _say("or open this link, which carries the code (check it shows the same one):")
            print(device.verification_uri_complete or device.verification_uri, flush=True)
            minutes = max(1, device.expires_in // 60)
            _say(f"Waiting for approval (the code is valid for {minutes} minutes) ...")
            return client.poll_device(device)
        except OAuthClientError as exc:
            if exc.error == "access_denied":
                raise _fail("sign-in was denied") from None
            if exc.error == "expired_token":
                raise _fail("the code expired before it was approved; "
                            "run `proofkey login --device` again") from None
            if exc.error == "unauthorized_client":
                raise _fail(f"client {client_id} may not use the device grant; register it "
                            "with --grant-type urn:ietf:params:oauth:grant-type:device_code"
                            ) from None
            raise _refused(exc) from None
        except (OSError, httpx.TransportError) as exc:
            raise _fail(f"cannot reach {issuer}: {exc}") from None


def token(issuer: IssuerOpt = None, client_id: ClientOpt = None,
          as_json: Annotated[bool, typer.Option(
              "--json", help="Print a JSON object with access_token, token_type, expires_at "
              "and, for a DPoP token, the key's thumbprint and file.")] = False) -> None:
    """Print a valid access token on stdout, refreshing it when needed. A DPoP token (see
    `proofkey login`) is sent as `Authorization: DPoP` with a proof from its key; the type is
    said on stderr (or in --json)."""
    cache = TokenCache()
    try:
        issuer_url, cid = _pick(cache, issuer, client_id)
    except _NotLoggedIn:
        raise _fail("not logged in; run `proofkey login --issuer URL` first") from None
    tokens = cache.get(issuer_url, cid)
    if tokens is None:
        raise _fail(f"not logged in to {issuer_url} as {cid}; run `proofkey login`")
    key_path = cache.dpop_key_path(issuer_url, cid)
    if tokens.expired():
        if tokens.refresh_token is None:
            raise _fail("the access token expired; run `proofkey login` again")
        # A DPoP login refreshes with its own key; a Bearer login stays Bearer (--no-dpop).
        with OAuthClient(issuer_url, cid, dpop="auto" if tokens.dpop_bound else "off",
                         dpop_key=key_path) as client:
            try:
                tokens = client.refresh(tokens)  # same sub and iss (OIDC §12.2)
            except OAuthClientError as exc:
                raise _fail(f"refresh failed ({exc.error}); run `proofkey login` again") from None
            except OSError as exc:
                raise _fail(f"cannot reach {issuer_url}: {exc}") from None
        cache.put(issuer_url, cid, tokens)
    if as_json:
        shown: dict[str, object] = {"access_token": tokens.access_token,
                                    "token_type": tokens.token_type,
                                    "expires_at": tokens.expires_at}
        if tokens.dpop_bound:
            shown.update(dpop_jkt=tokens.dpop_jkt, dpop_key_file=str(key_path))
        print(json.dumps(shown))
        return
    if tokens.dpop_bound:
        _say(f"proofkey: a DPoP token: send it as `Authorization: DPoP <token>` with a DPoP "
             f"proof signed by the key in {key_path}")
    print(tokens.access_token)


def logout(issuer: IssuerOpt = None, client_id: ClientOpt = None) -> None:
    """Revoke the stored tokens at the provider and forget them."""
    cache = TokenCache()
    try:
        issuer_url, cid = _pick(cache, issuer, client_id)
    except _NotLoggedIn:
        _say("Not logged in; nothing to log out of")
        return
    tokens = cache.get(issuer_url, cid)
    if tokens is None:
        _say(f"Not logged in to {issuer_url} as {cid}; nothing to log out of")
        return
    with OAuthClient(issuer_url, cid) as client:
        try:
            if tokens.refresh_token:
                client.revoke(tokens.refresh_token, "refresh_token")
            client.revoke(tokens.access_token, "access_token")
        except (OAuthClientError, OSError) as exc:
            _say(f"warning: revocation failed ({exc}); forgetting the tokens anyway")
    cache.remove(issuer_url, cid)
    _say(f"Logged out of {issuer_url}")
