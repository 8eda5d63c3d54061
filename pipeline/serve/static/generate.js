// The generation page: sliders -> {"inputs", "parameters"} -> POST /generate -> the text.
"use strict";
const $ = (id) => document.getElementById(id);
const NUMBERS = ["max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty",
  "no_repeat_ngram_size"];

function show(id) {
  const out = document.querySelector(`output[data-for="${id}"]`);
  if (out) out.textContent = $(id).value;
}

async function start() {
  NUMBERS.forEach((id) => { $(id).addEventListener("input", () => show(id)); show(id); });
  $("do_sample").addEventListener("change", () => {
    ["temperature", "top_p", "top_k", "seed"].forEach((id) => { $(id).disabled = !$("do_sample").checked; });
  });
  try {  // the server's defaults and cap
    const info = await (await apiFetch("/info")).json();
    $("max_new_tokens").max = info.limits.max_new_tokens;
    for (const [key, value] of Object.entries(info.defaults)) {
      if (key === "do_sample") $(key).checked = value;
      else if ($(key)) { $(key).value = value; show(key); }
    }
  } catch (e) { /* the page still works with its own defaults */ }
  poll();
}

async function poll() {
  const r = await fetch("/health");
  const body = await r.json();
  $("status").textContent = r.ok ? "ready" : body.status;
  if (!r.ok && body.status !== "failed") setTimeout(poll, 500);
}

async function generate(event) {
  event.preventDefault();
  const parameters = { do_sample: $("do_sample").checked };
  NUMBERS.forEach((id) => { parameters[id] = Number($(id).value); });
  if (parameters.do_sample && $("seed").value !== "") parameters.seed = Number($("seed").value);
  if (!parameters.do_sample) { delete parameters.temperature; delete parameters.top_p; delete parameters.top_k; }
  $("submit").disabled = true;
  $("error").hidden = true;
  try {
    const r = await apiFetch("/generate", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: $("prompt").value, parameters }) });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    $("result").textContent = body[0].generated_text;
    $("result-box").hidden = false;
  } catch (e) {
    $("error").textContent = e.message;
    $("error").hidden = false;
  } finally {
    $("submit").disabled = false;
  }
}

$("form").addEventListener("submit", generate);
$("prompt").addEventListener("keydown", (e) => { if (e.key === "Enter" && e.ctrlKey) generate(e); });
start();
