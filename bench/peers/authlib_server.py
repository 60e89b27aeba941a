"""Authlib + Flask as a benchmark peer for bench/run.py (run under gunicorn, one worker).

Built the way Authlib's Flask OAuth 2.0 / OIDC server docs show: Flask-SQLAlchemy models from
``authlib.integrations.sqla_oauth2``, ``AuthorizationCodeGrant`` with
``CodeChallenge(required=True)`` and the ``OpenIDCode`` extension, ``RefreshTokenGrant`` with
rotation, and RFC 9068 JWT access tokens (``JWTBearerTokenGenerator``, ES256). ID tokens are
RS256 like proofkey's default client. Keys are parsed once at start (as proofkey keeps parsed
key objects). SQLite runs in WAL mode with synchronous=NORMAL, the same durability as
proofkey's store, so neither side pays an fsync per commit.

A login session is a Flask (signed-cookie) session; consent is a row per (user, client) that
``/authorize`` looks up, so a remembered consent costs a query as it does in the other servers.
Login accepts the single test user (plain comparison: the password hash is not under test here).
With BENCH_CC_SECRET set, a confidential client BENCH_CC_CLIENT_ID (client_secret_basic) may use
``ClientCredentialsGrant`` and gets the same ES256 JWT access token (Authlib's mixin keeps and
compares its secret in plain text).

Environment: BENCH_ISSUER, BENCH_DB (SQLite path), BENCH_CLIENT_ID, BENCH_REDIRECT_URI,
BENCH_USER, BENCH_PASSWORD, and optionally BENCH_CC_CLIENT_ID, BENCH_CC_SECRET.
"""

from __future__ import annotations

import os
import secrets
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.sqla_oauth2 import (
    OAuth2AuthorizationCodeMixin,
    OAuth2ClientMixin,
    OAuth2TokenMixin,
    create_query_client_func,
    create_save_token_func,
)
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode as _OpenIDCode
from flask import Flask, redirect, request, session
from flask_sqlalchemy import SQLAlchemy
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import event
from sqlalchemy.engine import Engine

ISSUER = os.environ.get("BENCH_ISSUER", "http://127.0.0.1:18403")
DB_PATH = os.environ.get("BENCH_DB", "authlib-bench.db")
CLIENT_ID = os.environ.get("BENCH_CLIENT_ID", "bench-client")
REDIRECT_URI = os.environ.get("BENCH_REDIRECT_URI", "https://bench.proofkey.test/cb")
USERNAME = os.environ.get("BENCH_USER", "bench")
PASSWORD = os.environ.get("BENCH_PASSWORD", "bench-password")
CC_CLIENT_ID = os.environ.get("BENCH_CC_CLIENT_ID", "bench-cc")
CC_SECRET = os.environ.get("BENCH_CC_SECRET", "")

app = Flask(__name__)
app.config.update(
    SECRET_KEY=secrets.token_hex(32),
    SQLALCHEMY_DATABASE_URI=f"sqlite:///{DB_PATH}",
    OAUTH2_REFRESH_TOKEN_GENERATOR=True,
)
db = SQLAlchemy(app)

RSA_KEY = RSAKey.generate_key(2048, parameters={"kid": "rs256", "alg": "RS256"}, private=True)
EC_KEY = ECKey.generate_key("P-256", parameters={"kid": "es256", "alg": "ES256"}, private=True)


class User(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(40), unique=True)

    def get_user_id(self) -> int:
        return self.id


class Client(db.Model, OAuth2ClientMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "oauth2_client"
    id = db.Column(db.Integer, primary_key=True)


class AuthorizationCode(db.Model, OAuth2AuthorizationCodeMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "oauth2_code"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"))
    user = db.relationship("User")

    def is_expired(self) -> bool:  # 600 s, like the other servers in the benchmark
        return self.auth_time + 600 < time.time()


class Token(db.Model, OAuth2TokenMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "oauth2_token"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"))
    user = db.relationship("User")
    access_token = db.Column(db.String(2048), unique=True, nullable=False)

    def is_refresh_token_active(self) -> bool:
        return not self.refresh_token_revoked_at and not self.access_token_revoked_at


class Consent(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, index=True)
    client_id = db.Column(db.String(48), index=True)
    scope = db.Column(db.Text, default="")


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012

    def save_authorization_code(self, code, request):  # type: ignore[no-untyped-def]
        payload = request.payload
        item = AuthorizationCode(
            code=code, client_id=request.client.client_id,
            redirect_uri=payload.redirect_uri, scope=payload.scope or "",
            user_id=request.user.id, nonce=payload.data.get("nonce"),
            code_challenge=payload.data.get("code_challenge"),
            code_challenge_method=payload.data.get("code_challenge_method"),
        )
        db.session.add(item)
        db.session.commit()
        return item

    def query_authorization_code(self, code, client):  # type: ignore[no-untyped-def]
        item = AuthorizationCode.query.filter_by(code=code, client_id=client.client_id).first()
        if item and not item.is_expired():
            return item
        return None

    def delete_authorization_code(self, authorization_code):  # type: ignore[no-untyped-def]
        db.session.delete(authorization_code)
        db.session.commit()

    def authenticate_user(self, authorization_code):  # type: ignore[no-untyped-def]
        return db.session.get(User, authorization_code.user_id)


class OpenIDCode(_OpenIDCode):
    def exists_nonce(self, nonce, request):  # type: ignore[no-untyped-def]
        return False  # nonces are not reused by the benchmark's clients

    def resolve_client_private_key(self, client):  # type: ignore[no-untyped-def]
        return RSA_KEY

    def get_client_algorithm(self, client):  # type: ignore[no-untyped-def]
        return "RS256"

    def get_client_claims(self, client):  # type: ignore[no-untyped-def]
        now = int(time.time())
        return {"iss": ISSUER, "aud": [client.get_client_id()], "iat": now, "exp": now + 600}

    def get_encode_header(self, client):  # type: ignore[no-untyped-def]
        return {"alg": "RS256", "kid": "rs256", "typ": "JWT"}

    def generate_user_info(self, user, scope):  # type: ignore[no-untyped-def]
        return UserInfo(sub=str(user.id))


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):  # type: ignore[no-untyped-def]
        token = Token.query.filter_by(refresh_token=refresh_token).first()
        if token and token.is_refresh_token_active():
            return token
        return None

    def authenticate_user(self, credential):  # type: ignore[no-untyped-def]
        return db.session.get(User, credential.user_id)

    def revoke_old_credential(self, credential):  # type: ignore[no-untyped-def]
        credential.refresh_token_revoked_at = int(time.time())
        db.session.add(credential)
        db.session.commit()


class AccessTokens(JWTBearerTokenGenerator):
    def get_jwks(self):  # type: ignore[no-untyped-def]
        return EC_KEY

    def get_audiences(self, client, user, scope):  # type: ignore[no-untyped-def]
        return ISSUER


def _refresh_token(*_args, **_kwargs):  # type: ignore[no-untyped-def]
    return secrets.token_urlsafe(32)


server = AuthorizationServer(
    app, query_client=create_query_client_func(db.session, Client),
    save_token=create_save_token_func(db.session, Token))
server.register_grant(AuthorizationCodeGrant,
                      [CodeChallenge(required=True), OpenIDCode(require_nonce=False)])
server.register_grant(RefreshTokenGrant)
server.register_grant(grants.ClientCredentialsGrant)  # client_secret_basic, its default
server.register_token_generator(
    "default", AccessTokens(ISSUER, alg="ES256", refresh_token_generator=_refresh_token))


def current_user() -> User | None:
    uid = session.get("uid")
    return db.session.get(User, uid) if uid else None


@app.route("/login", methods=["POST"])
def login():  # type: ignore[no-untyped-def]
    """Log the test user in and record consent for the client (the user said yes once)."""
    if request.form.get("username") != USERNAME or request.form.get("password") != PASSWORD:
        return "bad credentials", 401
    user = User.query.filter_by(username=USERNAME).first()
    session["uid"] = user.id
    client_id = request.form.get("client_id", CLIENT_ID)
    if not Consent.query.filter_by(user_id=user.id, client_id=client_id).first():
        db.session.add(Consent(user_id=user.id, client_id=client_id,
                               scope=request.form.get("scope", "openid")))
        db.session.commit()
    return redirect(request.form.get("next") or "/", code=303)


@app.route("/authorize", methods=["GET"])
def authorize():  # type: ignore[no-untyped-def]
    user = current_user()
    if user is None:
        return "login required: POST /login", 401
    consent = Consent.query.filter_by(user_id=user.id,
                                      client_id=request.args.get("client_id")).first()
    wanted = set((request.args.get("scope") or "").split())
    if consent is None or not wanted <= set(consent.scope.split()):
        return "consent required", 403
    return server.create_authorization_response(grant_user=user)


@app.route("/token", methods=["POST"])
def issue_token():  # type: ignore[no-untyped-def]
    return server.create_token_response()


@app.route("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return {"status": "ok"}


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def setup() -> None:
    """Create tables, the test user and the public client (run once before gunicorn)."""
    with app.app_context():
        db.create_all()
        if not User.query.filter_by(username=USERNAME).first():
            db.session.add(User(username=USERNAME))
        if not Client.query.filter_by(client_id=CLIENT_ID).first():
            client = Client(client_id=CLIENT_ID, client_id_issued_at=int(time.time()))
            client.set_client_metadata({
                "client_name": "bench", "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"], "scope": "openid profile email offline_access api",
                "token_endpoint_auth_method": "none",
            })
            db.session.add(client)
        if CC_SECRET and not Client.query.filter_by(client_id=CC_CLIENT_ID).first():
            client = Client(client_id=CC_CLIENT_ID, client_secret=CC_SECRET,
                            client_id_issued_at=int(time.time()))
            client.set_client_metadata({
                "client_name": "bench-cc", "grant_types": ["client_credentials"],
                "response_types": [], "scope": "api",
                "token_endpoint_auth_method": "client_secret_basic",
            })
            db.session.add(client)
        db.session.commit()


if __name__ == "__main__":
    setup()
