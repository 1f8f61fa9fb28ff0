// Trợ lý Khuyến công: the upload page sends its form with a progress bar. Without this script the
// same form still works (the server answers with a whole page). Every sentence comes from the
// server in the form's data-strings, in the user's language.
"use strict";

(function () {
  const form = document.getElementById("upload");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  const strings = JSON.parse(form.dataset.strings || "{}");
  const maxBytes = Number(form.dataset.maxBytes || 0);
  const input = form.querySelector('input[type="file"]');
  const button = form.querySelector("button");
  const bar = form.querySelector("progress");
  const error = form.querySelector(".error");
  const content = document.getElementById("content");

  function showError(text) {
    error.textContent = text;
    error.hidden = false;
    bar.hidden = true;
    button.disabled = false;
    button.textContent = button.dataset.label || button.textContent;
  }

  function showDone(title, message) {
    content.textContent = "";
    const h = document.createElement("h2");
    h.textContent = title || "";
    content.appendChild(h);
    for (const line of String(message || "").split("\n")) {
      if (!line.trim()) continue;
      const p = document.createElement("p");
      p.textContent = line;
      content.appendChild(p);
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    const files = Array.from(input.files || []);
    if (!files.length) return showError(strings.no_file || "");
    if (maxBytes && files.some((f) => f.size > maxBytes)) return showError(strings.too_large || "");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", window.location.pathname);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    });
    xhr.addEventListener("load", function () {
      let answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
      if (answer && answer.ok) return showDone(answer.title, answer.message);
      if (answer && answer.message && answer.retry) return showError(answer.message);
      if (answer && answer.message) return showDone("", answer.message);
      showError(strings.failed || "");
    });
    xhr.addEventListener("error", function () { showError(strings.failed || ""); });
    xhr.addEventListener("abort", function () { showError(strings.failed || ""); });
    const body = new FormData();
    for (const f of files) body.append("file", f, f.name);
    button.dataset.label = button.textContent;
    button.textContent = strings.uploading || "…";
    button.disabled = true;
    bar.value = 0;
    bar.hidden = false;
    xhr.send(body);
  });
})();
