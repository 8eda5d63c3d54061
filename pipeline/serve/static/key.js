// API keys on the pages: apiFetch is fetch plus "Authorization: Bearer <key>" once the server
// asked for one. At the first 401 the page asks for the key, keeps it in sessionStorage (this
// tab only: gone when the tab closes, never in localStorage or a cookie) and retries once; a
// wrong key is forgotten so the next request asks again. Loaded before the page's own script.
"use strict";

const KEY_SLOT = "pipeline.apiKey";

async function apiFetch(url, options = {}) {
  const withKey = () => {
    const key = sessionStorage.getItem(KEY_SLOT);
    const headers = new Headers(options.headers || {});
    if (key) headers.set("Authorization", `Bearer ${key}`);
    return fetch(url, { ...options, headers });
  };
  let response = await withKey();
  if (response.status !== 401) return response;
  sessionStorage.removeItem(KEY_SLOT);  // missing or wrong: ask (once per 401)
  const key = window.prompt("This server needs an API key:");
  if (!key) return response;
  sessionStorage.setItem(KEY_SLOT, key.trim());
  response = await withKey();
  if (response.status === 401) sessionStorage.removeItem(KEY_SLOT);
  return response;
}
