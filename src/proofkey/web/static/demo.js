// proofkey browser demo: authorization code + PKCE (S256) with WebCrypto, no framework.
// The code_verifier lives in sessionStorage only between the redirect and the exchange;
// tokens live in memory only.
"use strict";

(function () {
  const root = document.getElementById("demo");
  const issuer = root.dataset.issuer;
  const clientId = root.dataset.clientId;
  const redirectUri = window.location.origin + "/demo";
  const KEY = "proofkey-demo-attempt";
  let tokens = null;

  const $ = (id) => document.getElementById(id);

  function base64url(bytes) {
    let text = "";
    bytes.forEach((b) => { text += String.fromCharCode(b); });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomString(byteCount) {
    const bytes = new Uint8Array(byteCount);
    crypto.getRandomValues(bytes);
    return base64url(bytes);
  }

  async function challengeFor(verifier) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    return base64url(new Uint8Array(digest));
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
  }

  function showProfile(info) {
    const list = $("profile");
    list.replaceChildren();
    for (const [name, value] of Object.entries(info)) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = String(value);
      dd.dataset.claim = name;
      list.append(dt, dd);
    }
    list.hidden = false;
    $("status").textContent = "Signed in.";
    $("login").hidden = true;
    $("logout").hidden = false;
  }

  async function login() {
    const verifier = randomString(32); // 43 characters of base64url
    const attempt = { verifier: verifier, state: randomString(16), nonce: randomString(16) };
    sessionStorage.setItem(KEY, JSON.stringify(attempt));
    const params = new URLSearchParams({
      response_type: "code",
      client_id: clientId,
      redirect_uri: redirectUri,
      scope: "openid profile email offline_access",
      state: attempt.state,
      nonce: attempt.nonce,
      code_challenge: await challengeFor(verifier),
      code_challenge_method: "S256",
    });
    window.location.assign(issuer + "/authorize?" + params.toString());
  }

  async function callback(query) {
    const attempt = JSON.parse(sessionStorage.getItem(KEY) || "null");
    sessionStorage.removeItem(KEY);
    window.history.replaceState(null, "", "/demo");
    if (!attempt || query.get("state") !== attempt.state) {
      throw new Error("state does not match this sign-in attempt");
    }
    if (query.get("iss") !== issuer) {
      throw new Error("the response comes from an unexpected issuer (iss)");
    }
    if (query.has("error")) {
      throw new Error(query.get("error") + ": " + (query.get("error_description") || ""));
    }
    const response = await fetch(issuer + "/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: query.get("code") || "",
        redirect_uri: redirectUri,
        client_id: clientId,
        code_verifier: attempt.verifier,
      }),
    });
    const body = await response.json();
    if (!response.ok) {
      throw new Error("token exchange refused: " + body.error + " (" + body.error_description + ")");
    }
    tokens = body;
    const info = await fetch(issuer + "/userinfo", {
      headers: { Authorization: "Bearer " + tokens.access_token },
    });
    showProfile(await info.json());
  }

  async function logout() {
    if (tokens && tokens.refresh_token) {
      await fetch(issuer + "/revoke", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: tokens.refresh_token, client_id: clientId,
                                    token_type_hint: "refresh_token" }),
      });
    }
    tokens = null;
    // End the sign-in session at the server too, or the next sign-in would be silent.
    await fetch("/account/logout", {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: $("demo").dataset.logoutCsrf }),
    });
    $("profile").replaceChildren();
    $("profile").hidden = true;
    $("status").textContent = "Signed out.";
    $("login").hidden = false;
    $("logout").hidden = true;
  }

  $("login").addEventListener("click", () => { login().catch((e) => showError(e.message)); });
  $("logout").addEventListener("click", () => { logout().catch((e) => showError(e.message)); });
  const query = new URLSearchParams(window.location.search);
  if (query.has("state") || query.has("code") || query.has("error")) {
    callback(query).catch((e) => showError(e.message));
  }
})();
