// The staff console works without this file; it only adds confirmations and the progress of an
// import: the file's upload, then the server's own report of rows checked and saved (one JSON
// line per slice of rows), then the page with the outcome.
"use strict";

function say(form, key, values) {
  const out = form.querySelector("output");
  const text = form.getAttribute("data-" + key);
  if (!out || !text) return;
  const lang = document.documentElement.lang || "vi";
  out.textContent = text.replace(/\{(\w+)\}/g, (_, name) =>
    typeof values[name] === "number" ? values[name].toLocaleString(lang) : String(values[name] ?? ""));
}

function showPage(html) {
  document.open();
  document.write(html);
  document.close();
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if (!form.hasAttribute("data-progress") || !window.XMLHttpRequest || !window.FormData) return;
  event.preventDefault();
  const bar = form.querySelector("progress");
  const request = new XMLHttpRequest();
  let seen = 0;
  let page = null;
  request.open("POST", form.action);
  request.setRequestHeader("Accept", "application/x-ndjson");
  if (bar) bar.hidden = false;
  request.upload.addEventListener("progress", (e) => {
    if (!e.lengthComputable) return;
    const percent = Math.round((100 * e.loaded) / e.total);
    if (bar) bar.value = percent;
    say(form, "uploading", { percent });
  });
  const readLines = () => {
    const text = request.responseText;
    const end = text.lastIndexOf("\n");
    if (end < seen) return;
    for (const line of text.slice(seen, end).split("\n")) {
      if (!line.trim()) continue;
      const step = JSON.parse(line);
      if (step.html !== undefined) {
        page = step.html;
      } else if (step.total) {
        if (bar) bar.value = Math.round((100 * step.done) / step.total);
        say(form, step.phase, step);
      }
    }
    seen = end + 1;
  };
  request.addEventListener("progress", () => {
    if ((request.getResponseHeader("Content-Type") || "").startsWith("application/x-ndjson")) readLines();
  });
  request.addEventListener("load", () => {
    if ((request.getResponseHeader("Content-Type") || "").startsWith("application/x-ndjson")) {
      readLines();
      if (page !== null) return showPage(page);
      say(form, "failed", {}); // cut off before the outcome: nothing was imported
      form.querySelector("button")?.removeAttribute("disabled");
      return;
    }
    showPage(request.responseText); // refused before the import began (signed out, CSRF): that page
  });
  form.querySelector("button")?.setAttribute("disabled", "");
  request.send(new FormData(form));
});
