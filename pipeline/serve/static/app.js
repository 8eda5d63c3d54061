// The page's script (after ready.js): asks /info for the labels and groups, posts to /predict, draws bars.
// index.html has one text box; pair.html (the pair task) a second one, #text_pair.
// An answer below the server's serve.min_score carries "uncertain": true: a "not sure" note
// shows above the bars (the scores are shown all the same).
"use strict";

const TOP_K = 5;
let info = null;

async function loadInfo() {
  if (!(await modelReady())) return;
  info = await (await apiFetch("/info")).json();
  $("status").textContent = "ready";
  $("status").className = "status ok";
  const what = $("text_pair") ? "classes" : "emotions";
  const c = info.calibration;
  const scores = c && c.temperature ? `calibrated scores (T = ${c.temperature.toFixed(3)})` : "raw scores";
  $("model").textContent = `model: ${info.model} · ${info.labels.length} ${what} · ${scores}`;
}

function drawBars(answer) {
  const bars = $("bars");
  bars.replaceChildren();
  for (const { label, score } of answer) {
    const row = document.createElement("li");
    row.className = "bar-row";
    const name = document.createElement("span");
    name.className = "bar-label";
    name.textContent = label;
    name.title = label;
    const track = document.createElement("div");
    track.className = "bar-track";
    const fill = document.createElement("div");
    fill.className = "bar-fill";
    fill.style.width = `${(score * 100).toFixed(1)}%`;
    track.appendChild(fill);
    const value = document.createElement("span");
    value.className = "bar-score";
    value.textContent = `${(score * 100).toFixed(1)}%`;
    row.append(name, track, value);
    bars.appendChild(row);
  }
  const note = $("uncertain");
  note.hidden = !answer[0].uncertain;
  if (answer[0].uncertain) {
    const cut = info ? ` ${(info.serve.min_score * 100).toFixed(0)}%` : "";
    note.textContent = `확실하지 않아요 (not sure): the best score is below the server's min_score${cut}, ` +
      "so treat this answer as a guess.";
  }
  const groups = (info && info.label2group) || {};
  if ($("group")) $("group").textContent = groups[answer[0].label] || "–";
  $("result").hidden = false;
}

async function classify() {
  const text = $("text").value;
  if (!text.trim()) {
    showError("문장을 입력해 주세요 (type a sentence first).");
    return;
  }
  const pairBox = $("text_pair");
  if (pairBox && !pairBox.value.trim()) {
    showError("가설을 입력해 주세요 (type the second sentence too).");
    return;
  }
  const inputs = pairBox ? { text, text_pair: pairBox.value } : text;
  const k = info ? Math.min(TOP_K, info.labels.length) : TOP_K;
  $("submit").disabled = true;
  try {
    const response = await apiFetch("/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ inputs, parameters: { top_k: k } }),
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
for (const box of [$("text"), $("text_pair")].filter(Boolean)) {
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      classify();
    }
  });
}
for (const button of document.querySelectorAll(".example")) {
  button.addEventListener("click", () => {
    // A pair example carries its two sentences as data-text and data-pair.
    $("text").value = button.dataset.text || button.textContent;
    if ($("text_pair")) $("text_pair").value = button.dataset.pair || "";
    classify();
  });
}
loadInfo();
