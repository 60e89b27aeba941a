// The SPA side of a Backend-for-Frontend: same-origin fetches with X-CSRF: 1, no tokens.
"use strict";

const $ = (id) => document.getElementById(id);
const CSRF = { "X-CSRF": "1" };

function show(signedIn, text) {
  $("status").textContent = text;
  $("login").hidden = signedIn;
  $("call").hidden = !signedIn;
  $("logout").hidden = !signedIn;
}

async function loadUser() {
  const answer = await fetch("/bff/user", { credentials: "same-origin" });
  const claims = await answer.json();
  if (answer.status === 401) {
    $("user").textContent = "";
    show(false, "Not logged in.");
    return;
  }
  if (!answer.ok) {
    show(false, `The gateway answered ${answer.status} (${claims.error}); try again later.`);
    return;
  }
  $("user").textContent = JSON.stringify(claims, null, 2);
  show(true, `Logged in as ${claims.preferred_username || claims.sub}.`);
}

$("login").addEventListener("click", () => {
  // A top-level navigation: the gateway redirects to the provider and back.
  location.assign("/bff/login?returnUrl=" + encodeURIComponent(location.pathname));
});

$("call").addEventListener("click", async () => {
  const answer = await fetch("/api/hello", {
    method: "POST", credentials: "same-origin",
    headers: { ...CSRF, "Content-Type": "application/json" },
    body: JSON.stringify({ hello: "world" }),
  });
  const body = await answer.text();
  $("result").textContent = `${answer.status} ${body}`;
  $("result").dataset.status = String(answer.status);
  if (answer.status === 401) {
    show(false, "The session has ended: log in again."); // no redirect loop on XHR
  }
});

$("logout").addEventListener("click", async () => {
  const answer = await fetch("/bff/logout", {
    method: "POST", credentials: "same-origin", headers: CSRF,
  });
  const { logout_url: next } = await answer.json();
  location.assign(next);
});

loadUser();
