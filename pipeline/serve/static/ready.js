// What every page's script starts with: $, showError, and waiting for the model to load
// (/health says 503 while it loads). Loaded before the page's own script.
"use strict";

const $ = (id) => document.getElementById(id);

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// Resolves true once the model is ready, false (with the error shown) if loading failed.
async function modelReady() {
  for (;;) {
    try {
      const health = await fetch("/health");
      if (health.ok) return true;
      const body = await health.json();
      if (body.status === "failed") {
        $("status").textContent = "failed";
        $("status").className = "status bad";
        showError(body.error);
        return false;
      }
    } catch (e) { /* server not up yet */ }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
