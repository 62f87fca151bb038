// The upload page, enhanced: classify on choose/drop/draw through the JSON endpoint
// (/v1/images/{model}[/versions/{v}]:classify). Without this script the form still posts.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const form = $("upload");
  if (!form) return;
  document.documentElement.classList.add("js");  // the drop zone replaces the native input
  const modelSelect = $("model"), versionSelect = $("version"), fileInput = $("image");
  const drop = $("drop"), pad = $("pad"), errorBox = $("error"), result = $("result");
  const maxBytes = Number(form.dataset.maxBytes);
  let shownUrl = null, latestRequest = 0;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  // What the chosen model can tell apart, from its option's data-knows (the server's words).
  function describeModel() {
    const option = modelSelect.selectedOptions[0];
    const knows = option ? option.dataset.knows : "";
    $("knows").textContent = knows || "";
    $("draw-help").textContent = "Draw " + (option ? "what " + option.value + " knows" : "a picture") +
      " with the mouse, a pen or a finger; each stroke updates the prediction. " +
      "With a keyboard, upload a picture instead.";
  }

  function filterVersions() {
    for (const option of versionSelect.options) {
      if (!option.dataset.model) continue;
      const mine = option.dataset.model === modelSelect.value;
      option.hidden = option.disabled = !mine;
      option.textContent = mine ? option.value : option.value + " (" + option.dataset.model + ")";
    }
    if (versionSelect.selectedOptions[0] && versionSelect.selectedOptions[0].disabled) {
      versionSelect.value = "latest";
    }
  }

  function endpoint() {
    let url = "/v1/images/" + encodeURIComponent(modelSelect.value);
    if (versionSelect.value !== "latest") url += "/versions/" + encodeURIComponent(versionSelect.value);
    return url + ":classify?preview=true";
  }

  const percent = (p) => (p * 100).toFixed(1) + "%";

  function bar(probability) {
    const svgNS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("class", "bar");
    svg.setAttribute("viewBox", "0 0 100 10");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const rect = document.createElementNS(svgNS, "rect");
    rect.setAttribute("width", (probability * 100).toFixed(2));
    rect.setAttribute("height", "10");
    svg.appendChild(rect);
    return svg;
  }

  function render(data, pictureUrl) {
    $("label").textContent = data.label;
    $("probability").textContent = percent(data.probability);
    $("served-by").textContent = data.model + " v" + data.version;
    $("upload-img").src = pictureUrl;
    if (data.input_image) $("seen-img").src = data.input_image;
    $("topk").replaceChildren(...data.top_k.map((row) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = row.label;
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = percent(row.probability);
      item.append(name, bar(row.probability), pct);
      return item;
    }));
    result.hidden = false;
    document.title = data.label + " – Classify a picture";
  }

  async function classify(blob, pictureUrl) {
    showError("");
    if (!modelSelect.value) return showError("No image classifier is loaded.");
    if (blob.size > maxBytes) {
      return showError("The picture is too large: the limit is " + form.dataset.maxSize +
                       ". Try a smaller or more compressed picture.");
    }
    const request = ++latestRequest;
    const body = new FormData();
    body.append("image", blob, blob.name || "drawing.png");
    result.setAttribute("aria-busy", "true");
    let response, data;
    try {
      response = await fetch(endpoint(), { method: "POST", body, headers: { Accept: "application/json" } });
      data = await response.json();
    } catch (error) {
      data = { error: "The server did not answer properly (" + error.message + ")." };
    }
    if (request !== latestRequest) return;  // a newer stroke or upload has been sent since
    if (!response || !response.ok) showError(data.error || "Request failed: " + response.status);
    else render(data, pictureUrl);
    result.setAttribute("aria-busy", "false");
  }

  function classifyFile(file) {
    if (!file) return;
    $("chosen").textContent = file.name + " (" + Math.ceil(file.size / 1024) + " KB)";
    if (shownUrl) URL.revokeObjectURL(shownUrl);
    shownUrl = URL.createObjectURL(file);
    classify(file, shownUrl);
  }

  modelSelect.addEventListener("change", () => { filterVersions(); describeModel(); });
  filterVersions();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!fileInput.files[0]) return showError("Choose a picture to upload.");
    classifyFile(fileInput.files[0]);
  });
  fileInput.addEventListener("change", () => classifyFile(fileInput.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const files = event.dataTransfer.files;
    if (!files.length) return;
    fileInput.files = files;
    classifyFile(files[0]);
  });

  // Drawing: black strokes on white, as on paper; the server inverts and centres them.
  const context = pad.getContext("2d");
  let drawing = false, drawn = false, last = null;
  function clearPad() {
    context.fillStyle = "#fff";
    context.fillRect(0, 0, pad.width, pad.height);
    drawn = false;
  }
  function point(event) {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * pad.width / box.width,
            (event.clientY - box.top) * pad.height / box.height];
  }
  function stroke(to) {
    context.beginPath();
    context.moveTo(...(last || to));
    context.lineTo(...to);
    context.stroke();
    last = to;
    drawn = true;
  }
  function classifyDrawing() {
    if (!drawn) return showError("Draw something first.");
    const url = pad.toDataURL("image/png");
    pad.toBlob((blob) => classify(blob, url), "image/png");
  }
  Object.assign(context, { lineWidth: 18, lineCap: "round", lineJoin: "round", strokeStyle: "#000" });
  clearPad();
  pad.addEventListener("pointerdown", (event) => {
    pad.setPointerCapture(event.pointerId);
    drawing = true;
    last = null;
    stroke(point(event));
  });
  pad.addEventListener("pointermove", (event) => { if (drawing) stroke(point(event)); });
  for (const name of ["pointerup", "pointercancel"]) {
    pad.addEventListener(name, () => {
      if (!drawing) return;
      drawing = false;
      classifyDrawing();
    });
  }
  $("classify-drawing").addEventListener("click", classifyDrawing);
  $("clear").addEventListener("click", clearPad);
  for (const id of ["pad", "classify-drawing", "clear"]) $(id).hidden = false;
  describeModel();
})();
