// multilabel.html's script (after ready.js): posts to /predict for every label's calibrated
// score and draws each as a bar with a tick at the label's threshold; chosen labels are dark.
"use strict";

let info = null;

async function loadInfo() {
  if (!(await modelReady())) return;
  info = await (await apiFetch("/info")).json();
  $("status").textContent = "ready";
  $("status").className = "status ok";
  $("model").textContent = `model: ${info.model} · ${info.labels.length} labels`;
}

function drawBars(answer) {
  const bars = $("bars");
  bars.replaceChildren();
  bars.parentElement.classList.add("ml");
  for (const { label, score, threshold, selected } of answer) {
    const row = document.createElement("li");
    row.className = selected ? "bar-row selected" : "bar-row";
    const name = document.createElement("span");
    name.className = "bar-label";
    name.textContent = label;
    name.title = `${label} (threshold ${threshold.toFixed(2)})`;
    const track = document.createElement("div");
    track.className = "bar-track";
    const fill = document.createElement("div");
    fill.className = "bar-fill";
    fill.style.width = `${(score * 100).toFixed(1)}%`;
    const tick = document.createElement("div");
    tick.className = "tick";
    tick.style.left = `${(threshold * 100).toFixed(1)}%`;
    tick.title = `threshold ${threshold.toFixed(2)}`;
    track.append(fill, tick);
    const value = document.createElement("span");
    value.className = "bar-score";
    value.textContent = `${(score * 100).toFixed(1)}%`;
    row.append(name, track, value);
    bars.appendChild(row);
  }
  const chosen = answer.filter((a) => a.selected).map((a) => a.label);
  $("chosen").textContent = chosen.length ? chosen.join(" · ") : "(없음: no label over its threshold)";
  $("result").hidden = false;
}

async function classify() {
  const text = $("text").value;
  if (!text.trim()) {
    showError("문장을 입력해 주세요 (type a sentence first).");
    return;
  }
  $("submit").disabled = true;
  try {
    const response = await apiFetch("/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ inputs: text, parameters: { function_to_apply: "sigmoid" } }),
    });
    const body = await response.json();
    if (!response.ok) {
      showError(body.error || `error ${response.status}`);
      return;
    }
    showError("");
    drawBars(body[0]);
  } catch (e) {
    showError(`request failed: ${e}`);
  } finally {
    $("submit").disabled = false;
  }
}

$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  classify();
});
$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    classify();
  }
});
for (const button of document.querySelectorAll(".example")) {
  button.addEventListener("click", () => {
    $("text").value = button.textContent;
    classify();
  });
}
loadInfo();
