// A small client for authgin's routes on the same origin. The browser
// keeps the tokens in HttpOnly cookies: scripts never see them.
"use strict";

const API = "/api/users";

// call sends a JSON request and returns {ok, status, data}. When the access
// token has expired (401) it refreshes the session once through the refresh
// cookie and repeats the request: the user never notices.
async function call(method, path, body, { refresh = true } = {}) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res = await fetch(path, init);
  if (res.status === 401 && refresh) {
    const r = await fetch(API + "/token/refresh", { method: "POST" });
    if (r.ok) {
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
      res = await fetch(path, init);
    }
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  return { ok: res.ok, status: res.status, data };
}

// say shows a message; errors show the API's detail text.
function say(text, isError = false) {
  const m = document.getElementById("message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}

function sayError(res) {
  const detail = res.data && res.data.detail ? res.data.detail : "HTTP " + res.status;
  say(detail, true);
}

// formData returns a form's fields as an object.
function formData(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// tokenFromLink takes ?token= from the address and removes it from the
// address bar and history.
function tokenFromLink() {
  const token = new URLSearchParams(location.search).get("token") || "";
  history.replaceState(null, "", location.pathname);
  return token;
}
