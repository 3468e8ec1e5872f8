// The login form: POST the token, get the session cookie, go to the console. Without
// JavaScript the form posts itself (method="post": the token in the body, never the URL).
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const field = document.querySelector('[data-field="token"]');
  const error = field.querySelector(".error");
  const response = await fetch("/auth/login", {method: "POST", headers: {"content-type": "application/json"},
    body: JSON.stringify({token: document.getElementById("token").value}), credentials: "same-origin"});
  if (response.ok) { location.href = "/"; return; }
  const body = await response.json().catch(() => ({}));
  field.classList.add("invalid");
  error.textContent = (body.error && body.error.message) || "Login failed";
  error.hidden = false;
});
