"use strict";

const $ = (id) => document.getElementById(id);

function show(signedIn) {
  $("signed-in").hidden = !signedIn;
  $("signed-out").hidden = signedIn;
  document.body.dataset.state = signedIn ? "signed-in" : "signed-out";
}

// refreshMe asks the server who we are and fills the page.
async function refreshMe() {
  const me = await call("GET", "/api/me");
  if (!me.ok) {
    show(false);
    return false;
  }
  $("me-username").textContent = me.data.username;
  $("me-id").textContent = String(me.data.id);
  $("me-display-name").textContent = me.data.display_name || "";
  $("profile-form").elements.display_name.value = me.data.display_name || "";
  const st = await call("GET", API + "/confirm");
  if (st.ok) {
    $("me-email").textContent = st.data.email;
    $("me-confirmed").textContent = st.data.confirmed ? "yes" : "no";
    $("resend-confirmation").hidden = st.data.confirmed;
  }
  await loadSessions();
  await loadLinks();
  await loadFactors(); // mfa.js
  show(true);
  return true;
}

async function loadSessions() {
  const res = await call("GET", API + "/sessions");
  const list = $("sessions");
  list.replaceChildren();
  if (!res.ok) return;
  for (const s of res.data) {
    const li = document.createElement("li");
    li.textContent = (s.current ? "this browser" : s.userAgent || "unknown client") +
      " — " + s.ip + ", last used " + new Date(s.lastUsedAt).toLocaleString() +
      ", signed in with " + (s.amr || ["pwd"]).join(" + ");
    if (!s.current) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "End";
      b.addEventListener("click", async () => {
        const r = await call("DELETE", API + "/sessions/" + encodeURIComponent(s.id));
        r.ok ? say("Session ended.") : sayError(r);
        loadSessions();
      });
      li.append(" ", b);
    }
    list.append(li);
  }
}

// providers are the social login providers the server has configured
// (GET /oauth/providers), loaded once.
let providers = [];

async function loadProviders() {
  const res = await call("GET", API + "/oauth/providers", undefined, { refresh: false });
  providers = res.ok ? res.data : [];
  const box = $("social-buttons");
  box.replaceChildren();
  for (const p of providers) {
    // A plain link: the browser goes to the provider and comes back to
    // the callback, which sets the cookies and redirects here.
    const a = document.createElement("a");
    a.className = "button";
    a.href = p.authorizePath + "?next=/";
    a.textContent = "Sign in with " + p.displayName;
    a.dataset.provider = p.name;
    box.append(a, " ");
  }
  $("social-login").hidden = providers.length === 0;
}

// loadLinks lists the providers linked to the account, with a way to
// unlink each and to link the others.
async function loadLinks() {
  const list = $("linked");
  list.replaceChildren();
  $("linked-section").hidden = providers.length === 0;
  if (providers.length === 0) return;
  const res = await call("GET", API + "/oauth");
  const linked = new Map((res.ok ? res.data : []).map((l) => [l.provider, l]));
  for (const p of providers) {
    const li = document.createElement("li");
    const l = linked.get(p.name);
    if (l) {
      li.textContent = p.displayName + ": linked" + (l.email ? " (" + l.email + ")" : "") + " ";
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "Unlink";
      b.addEventListener("click", async () => {
        const r = await call("DELETE", API + "/oauth/" + encodeURIComponent(p.name));
        r.ok ? say(p.displayName + " unlinked.") : sayError(r);
        loadLinks();
      });
      li.append(b);
    } else {
      const a = document.createElement("a");
      a.href = p.authorizePath + "?link=1&next=/";
      a.textContent = "Link " + p.displayName;
      li.append(a);
    }
    list.append(li);
  }
}

// onSubmit wires a form to a handler that gets its fields.
function onSubmit(id, fn) {
  $(id).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await fn(formData(ev.target), ev.target);
  });
}

onSubmit("register-form", async (f, form) => {
  const res = await call("POST", API + "/register", f, { refresh: false });
  if (!res.ok) return sayError(res);
  form.reset();
  say("Welcome, " + res.data.username + "! We mailed you a link to confirm your email.");
  await refreshMe();
});

onSubmit("login-form", async (f, form) => {
  const res = await call("POST", API + "/login", f, { refresh: false });
  if (!res.ok) return sayError(res);
  form.reset();
  if (res.data.mfa_required) return askSecondFactor(res.data); // mfa.js
  say("Logged in as " + res.data.username + ".");
  await refreshMe();
});

onSubmit("forgot-form", async (f, form) => {
  const res = await call("POST", API + "/forgot_password", f, { refresh: false });
  if (!res.ok) return sayError(res);
  form.reset();
  say("If an account has this address, a reset link is on its way.");
});

// The example's own user field, display_name: PATCH /me changes it.
onSubmit("profile-form", async (f) => {
  const res = await call("PATCH", API + "/me", f);
  if (!res.ok) return sayError(res);
  say("Display name saved.");
  await refreshMe();
});

onSubmit("password-form", async (f, form) => {
  const res = await call("PUT", API + "/password", f);
  if (!res.ok) return sayError(res);
  form.reset();
  say("Password changed. Your other sessions were logged out.");
  loadSessions();
});

onSubmit("email-form", async (f, form) => {
  const res = await call("POST", API + "/email", f);
  if (!res.ok) return sayError(res);
  form.reset();
  say("We mailed a link to " + f.email + ". Your address changes when you open it.");
});

onSubmit("delete-form", async (f, form) => {
  if (!confirm("Delete your account for good?")) return;
  const res = await call("POST", API + "/delete_account", f);
  if (!res.ok) return sayError(res);
  form.reset();
  say("Your account was deleted.");
  show(false);
});

$("whoami").addEventListener("click", async () => {
  if (await refreshMe()) say("The server knows you as " + $("me-username").textContent + ".");
  else say("You are not logged in.", true);
});

$("resend-confirmation").addEventListener("click", async () => {
  const res = await call("POST", API + "/confirm");
  res.ok ? say("A new confirmation link is on its way.") : sayError(res);
});

$("logout").addEventListener("click", async () => {
  const res = await call("POST", API + "/logout", undefined, { refresh: false });
  if (!res.ok) return sayError(res);
  say("Logged out.");
  show(false);
});

$("logout-all").addEventListener("click", async () => {
  const res = await call("POST", API + "/logout_all");
  if (!res.ok) return sayError(res);
  say("Logged out of " + res.data.revoked + " session(s), this one included.");
  show(false);
});

loadProviders().then(refreshMe).then(() => { document.body.dataset.ready = "1"; });
