"use strict";

// The target of password reset links: a new password with the token.
const token = tokenFromLink();
const form = document.getElementById("reset-form");
if (!token) {
  say("This link has no token. Ask for a new reset link.", true);
} else {
  form.hidden = false;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const res = await call("POST", API + "/password", { token, ...formData(form) }, { refresh: false });
    if (!res.ok) return sayError(res);
    form.hidden = true;
    say("Your password was changed. Log in with the new one.");
  });
}
document.body.dataset.ready = "1";
