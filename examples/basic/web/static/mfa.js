// Second factors: an authenticator app (TOTP) with recovery codes, and
// passkeys (WebAuthn), for logging in and as the second factor.
"use strict";

// b64u and unb64u convert between ArrayBuffers and base64url, the form
// the API uses for WebAuthn's binary members.
function b64u(buf) {
  let s = "";
  for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function unb64u(s) {
  s = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(s + "===".slice((s.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
}

// creationOptions and requestOptions turn the API's publicKey options
// into what navigator.credentials expects.
function creationOptions(pk) {
  const o = structuredClone(pk);
  o.challenge = unb64u(o.challenge);
  o.user.id = unb64u(o.user.id);
  (o.excludeCredentials || []).forEach((c) => { c.id = unb64u(c.id); });
  return o;
}
function requestOptions(pk) {
  const o = structuredClone(pk);
  o.challenge = unb64u(o.challenge);
  (o.allowCredentials || []).forEach((c) => { c.id = unb64u(c.id); });
  return o;
}

// credentialJSON is a PublicKeyCredential as the API reads it.
function credentialJSON(cred) {
  if (cred.toJSON) return cred.toJSON();
  const r = cred.response, out = { id: cred.id, rawId: b64u(cred.rawId), type: cred.type,
    clientExtensionResults: cred.getClientExtensionResults(), response: { clientDataJSON: b64u(r.clientDataJSON) } };
  if (r.attestationObject) out.response.attestationObject = b64u(r.attestationObject);
  if (r.authenticatorData) {
    out.response.authenticatorData = b64u(r.authenticatorData);
    out.response.signature = b64u(r.signature);
    if (r.userHandle) out.response.userHandle = b64u(r.userHandle);
  }
  return out;
}

// The login waiting for its second factor.
let pendingMFA = null;

function askSecondFactor(data) {
  pendingMFA = data;
  $("login-form").hidden = true;
  $("mfa-form").hidden = false;
  $("mfa-passkey").hidden = !data.methods.includes("webauthn");
  say("Enter the code from your authenticator app.");
}

function mfaDone() {
  pendingMFA = null;
  $("mfa-form").hidden = true;
  $("login-form").hidden = false;
}

onSubmit("mfa-form", async (f, form) => {
  const res = await call("POST", API + "/login/mfa", { mfa_token: pendingMFA.mfa_token, code: f.code.trim() }, { refresh: false });
  if (!res.ok) {
    if (res.data && res.data.code === "invalid_mfa_token") mfaDone();
    return sayError(res);
  }
  form.reset();
  mfaDone();
  say("Logged in as " + res.data.username + ".");
  await refreshMe();
});

// assertPasskey runs a passkey login ceremony: begin (with body), the
// browser's assertion, then finish at path; it answers finish's result,
// or null when the user did not use a passkey.
async function assertPasskey(body, path, extra) {
  const begin = await call("POST", API + "/webauthn/login/begin", body, { refresh: false });
  if (!begin.ok) return begin;
  let cred;
  try {
    cred = await navigator.credentials.get({ publicKey: requestOptions(begin.data.publicKey) });
  } catch (e) {
    say("The passkey was not used: " + e.message, true);
    return null;
  }
  return call("POST", API + path,
    Object.assign({ ceremony: begin.data.ceremony, credential: credentialJSON(cred) }, extra), { refresh: false });
}

$("mfa-passkey").addEventListener("click", async () => {
  const token = { mfa_token: pendingMFA.mfa_token };
  const res = await assertPasskey(token, "/login/mfa", token);
  if (!res) return;
  if (!res.ok) return sayError(res);
  mfaDone();
  say("Logged in as " + res.data.username + ".");
  await refreshMe();
});

$("passkey-login").addEventListener("click", async () => {
  const res = await assertPasskey(undefined, "/webauthn/login/finish", {});
  if (!res) return;
  if (!res.ok) return sayError(res);
  say("Logged in with a passkey as " + res.data.username + ".");
  await refreshMe();
});

// loadFactors shows the user's second factors.
async function loadFactors() {
  const res = await call("GET", API + "/mfa");
  if (!res.ok) return;
  const on = res.data.totp.enabled;
  $("totp-status").textContent = on ? "on (" + res.data.recovery_codes_left + " recovery codes left)" : "off";
  $("totp-setup").hidden = on;
  $("totp-disable-form").hidden = !on;
  const list = $("passkeys");
  list.replaceChildren();
  for (const p of res.data.passkeys) {
    const li = document.createElement("li");
    li.textContent = p.name + ", added " + new Date(p.created_at).toLocaleString();
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Remove";
    b.addEventListener("click", async () => {
      const r = await call("DELETE", API + "/webauthn/credentials/" + p.id);
      r.ok ? say("Passkey removed.") : sayError(r);
      loadFactors();
    });
    li.append(" ", b);
    list.append(li);
  }
}

$("totp-setup").addEventListener("click", async () => {
  const res = await call("POST", API + "/mfa/totp/setup");
  if (!res.ok) return sayError(res);
  $("totp-secret").textContent = res.data.secret;
  if (res.data.qr_png) $("totp-qr").src = res.data.qr_png;
  $("totp-setup-box").hidden = false;
  $("recovery-box").hidden = true;
});

onSubmit("totp-enable-form", async (f, form) => {
  const res = await call("POST", API + "/mfa/totp/enable", { code: f.code.trim() });
  if (!res.ok) return sayError(res);
  form.reset();
  $("totp-setup-box").hidden = true;
  const ol = $("recovery-codes");
  ol.replaceChildren(...res.data.recovery_codes.map((c) => {
    const li = document.createElement("li");
    li.textContent = c;
    return li;
  }));
  $("recovery-box").hidden = false;
  say("The authenticator app is on. Write down your recovery codes.");
  loadFactors();
});

onSubmit("totp-disable-form", async (f, form) => {
  const res = await call("POST", API + "/mfa/totp/disable", { password: f.password });
  if (!res.ok) return sayError(res);
  form.reset();
  $("recovery-box").hidden = true;
  say("The authenticator app is off.");
  loadFactors();
});

onSubmit("passkey-form", async (f) => {
  const begin = await call("POST", API + "/webauthn/register/begin");
  if (!begin.ok) return sayError(begin);
  let cred;
  try {
    cred = await navigator.credentials.create({ publicKey: creationOptions(begin.data.publicKey) });
  } catch (e) {
    return say("No passkey was made: " + e.message, true);
  }
  const res = await call("POST", API + "/webauthn/register/finish",
    { ceremony: begin.data.ceremony, name: f.name, credential: credentialJSON(cred) });
  if (!res.ok) return sayError(res);
  say("Passkey added: " + res.data.name + ".");
  loadFactors();
});

// A social login of an account with a second factor comes back with the
// second step in the address's fragment, which no server sees: take it
// out of the address bar and history, and ask for the factor.
(function socialSecondFactor() {
  const f = new URLSearchParams(location.hash.slice(1));
  if (!f.get("mfa_token")) return;
  history.replaceState(null, "", location.pathname + location.search);
  askSecondFactor({ mfa_token: f.get("mfa_token"), methods: (f.get("methods") || "").split(",") });
})();
