"use strict";

// The target of confirmation and email change links: POST the token to
// /confirm, which confirms the address either way.
const token = tokenFromLink();
const form = document.getElementById("confirm-form");
if (!token) {
  say("This link has no token. Open the link from the mail again.", true);
} else {
  form.hidden = false;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const res = await call("POST", API + "/confirm", { token }, { refresh: false });
    if (!res.ok) return sayError(res);
    form.hidden = true;
    say("Your email address is confirmed.");
  });
}
document.body.dataset.ready = "1";
