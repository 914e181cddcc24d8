// A front end on another site than its authgin API.
//
// Bearer mode: every auth request sends "X-Auth-Mode: bearer"; the tokens
// come back in the JSON body. The access token lives in memory only, the
// refresh token in sessionStorage (this tab) so that a reload keeps the
// session. The API needs AUTHGIN_BEARER_CLIENTS=1 and this origin in
// CORS_ORIGINS.
//
// Cookie mode: the API sets its cookies with SameSite=None; Secure, and
// every fetch sends credentials: "include". The API needs
// COOKIE_SAMESITE=none, https, and this origin in CORS_ORIGINS (which also
// trusts it for the CSRF check).
"use strict";

const $ = (id) => document.getElementById(id);
let cfg = null;
let access = ""; // bearer mode: the access token, in memory only

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

function show(signedIn) {
  $("signed-in").hidden = !signedIn;
  $("signed-out").hidden = signedIn;
  document.body.dataset.state = signedIn ? "signed-in" : "signed-out";
}

const bearer = () => cfg.mode === "bearer";

// request sends a JSON request to the API.
async function request(method, path, body, extraHeaders = {}) {
  const init = { method, headers: { ...extraHeaders }, credentials: bearer() ? "omit" : "include" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (bearer()) {
    init.headers["X-Auth-Mode"] = "bearer";
    if (access) init.headers["Authorization"] = "Bearer " + access;
  }
  const res = await fetch(cfg.api + path, init);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  return { ok: res.ok, status: res.status, data };
}

function keep(tokens) {
  if (!bearer()) return;
  access = tokens.access_token;
  if (tokens.refresh_token) sessionStorage.setItem("refresh_token", tokens.refresh_token);
}

// refresh renews the session: the body's refresh token (bearer) or the
// refresh cookie.
async function refresh() {
  const body = bearer() ? { refresh_token: sessionStorage.getItem("refresh_token") || "" } : undefined;
  const res = await request("POST", "/api/users/token/refresh", body);
  if (res.ok) {
    keep(res.data);
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  }
  return res;
}

// me asks the API who we are, refreshing once on 401.
async function me() {
  let res = await request("GET", "/api/me");
  if (res.status === 401 && (await refresh()).ok) res = await request("GET", "/api/me");
  if (res.ok) {
    $("me-username").textContent = res.data.username;
    $("me-id").textContent = String(res.data.id);
  }
  show(res.ok);
  return res;
}

function onSubmit(id, fn) {
  $(id).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await fn(Object.fromEntries(new FormData(ev.target).entries()), ev.target);
  });
}

async function start() {
  cfg = await (await fetch("/config.json")).json();
  $("api").textContent = cfg.api;
  $("mode").textContent = cfg.mode;

  onSubmit("register-form", async (f, form) => {
    const res = await request("POST", "/api/users/register", f);
    if (!res.ok) return say(res.data ? res.data.detail : "HTTP " + res.status, true);
    keep(res.data);
    form.reset();
    say("Registered.");
    await me();
  });
  onSubmit("login-form", async (f, form) => {
    const res = await request("POST", "/api/users/login", f);
    if (!res.ok) return say(res.data ? res.data.detail : "HTTP " + res.status, true);
    keep(res.data);
    form.reset();
    say("Logged in.");
    await me();
  });
  $("whoami").addEventListener("click", async () => {
    const res = await me();
    res.ok ? say("The API knows you as " + res.data.username + ".") : say("Not logged in.", true);
  });
  $("refresh").addEventListener("click", async () => {
    const res = await refresh();
    res.ok ? say("Session refreshed.") : say("The session is over.", true);
  });
  $("logout").addEventListener("click", async () => {
    const body = bearer() ? { refresh_token: sessionStorage.getItem("refresh_token") || "" } : undefined;
    const res = await request("POST", "/api/users/logout", body);
    if (!res.ok) return say(res.data ? res.data.detail : "HTTP " + res.status, true);
    access = "";
    sessionStorage.removeItem("refresh_token");
    say("Logged out.");
    show(false);
  });
  await me();
  document.body.dataset.ready = "1";
}

start();
