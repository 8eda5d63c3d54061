// The generation page: sliders -> {"inputs", "parameters", "stream": true} -> POST /generate ->
// the text, token by token as the server sends them.
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
    // stream: the server sends one event per token (text-generation-inference's format)
    const r = await apiFetch("/generate", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: $("prompt").value, parameters, stream: true }) });
    if (!r.ok) { const body = await r.json(); throw new Error(body.error || r.statusText); }
    $("result").textContent = parameters.return_full_text === false ? "" : $("prompt").value;
    $("result-box").hidden = false;
    await readEvents(r, (event) => {
      if (event.error) throw new Error(event.error);
      if (event.generated_text !== null) $("result").textContent = event.generated_text;
      else if (!event.token.special) $("result").textContent += event.token.text;
    });
  } catch (e) {
    $("error").textContent = e.message;
    $("error").hidden = false;
  } finally {
    $("submit").disabled = false;
  }
}

// Calls onEvent with each server-sent event's JSON as it arrives ("data:{...}" blocks).
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (block.startsWith("data:")) onEvent(JSON.parse(block.slice(5)));
    }
  }
}

$("form").addEventListener("submit", generate);
$("prompt").addEventListener("keydown", (e) => { if (e.key === "Enter" && e.ctrlKey) generate(e); });
start();
