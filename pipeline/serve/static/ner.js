// The NER page's script: posts the sentence to /predict and marks the entities it gets back
// (the Inference API's token-classification shape: entity_group, score, word, start, end).
"use strict";

async function loadInfo() {
  if (!(await modelReady())) return;
  const info = await (await apiFetch("/info")).json();
  $("status").textContent = "ready";
  $("status").className = "status ok";
  $("model").textContent = `model: ${info.model} · ${info.labels.length} tags`;
}

function draw(text, entities) {
  // Offsets count UTF-16 code units in JS but code points in Python: walk code points.
  const chars = Array.from(text);
  const marked = $("marked");
  marked.replaceChildren();
  let at = 0;
  for (const e of [...entities].sort((a, b) => a.start - b.start)) {
    if (e.start < at) continue;
    marked.append(chars.slice(at, e.start).join(""));
    const mark = document.createElement("mark");
    mark.className = `ent ${e.entity_group}`;
    mark.dataset.type = e.entity_group;
    mark.title = `${e.entity_group} ${(e.score * 100).toFixed(1)}%`;
    mark.append(chars.slice(e.start, e.end).join(""));
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = `${e.entity_group} ${(e.score * 100).toFixed(0)}%`;
    mark.append(tag);
    marked.append(mark);
    at = e.end;
  }
  marked.append(chars.slice(at).join(""));
  const body = $("entities").querySelector("tbody");
  body.replaceChildren();
  for (const e of entities) {
    const row = document.createElement("tr");
    for (const value of [e.word, e.entity_group, `${(e.score * 100).toFixed(1)}%`, `${e.start}–${e.end}`]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    body.append(row);
  }
  $("result").hidden = false;
}

async function analyse(event) {
  if (event) event.preventDefault();
  const text = $("text").value;
  if (!text.trim()) { showError("문장을 입력하세요 (type a sentence)"); return; }
  showError("");
  $("submit").disabled = true;
  try {
    const response = await apiFetch("/predict", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: text }),
    });
    const body = await response.json();
    if (!response.ok) { showError(body.error || `error ${response.status}`); return; }
    draw(text, body);
  } catch (e) {
    showError(`request failed: ${e}`);
  } finally {
    $("submit").disabled = false;
  }
}

$("form").addEventListener("submit", analyse);
$("text").addEventListener("keydown", (e) => { if (e.key === "Enter" && e.ctrlKey) analyse(e); });
for (const button of document.querySelectorAll(".example")) {
  button.addEventListener("click", () => { $("text").value = button.dataset.text; analyse(); });
}
loadInfo();
