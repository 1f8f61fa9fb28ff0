/* Trợ lý Khuyến công: the local web chat page. Plain JS, no dependencies, no build step.
 *
 * Every sentence shown comes from the server (the boot JSON in the page, then /api/chat/state):
 * this file holds none. Message text is only ever set with textContent, never as HTML.
 * One request at a time, so replies appear in the order the user acted; a failed request keeps
 * what the user typed or chose and offers a retry with the same id, which the server applies once.
 */
(function () {
  "use strict";

  var POLL_MS = 20000;
  var SEND_TIMEOUT_MS = 60000;

  var boot = readBoot();
  var ui = boot.ui || {};
  var locale = boot.locale || "vi";
  var maxUpload = boot.max_upload_bytes || 0;
  var maxFiles = boot.max_files || 10;
  var maxText = boot.max_text || 4000;

  var log = byId("log");
  var form = byId("form");
  var input = byId("text");
  var sendBtn = byId("send");
  var attachBtn = byId("attach");
  var fileInput = byId("file");
  var jump = byId("jump");
  var banner = byId("banner");

  var seen = {};        // transcript ids on screen
  var lastId = 0;       // the highest of them, for /api/chat/updates
  var busy = false;     // a send or an upload is running
  var typing = null;    // the "assistant is writing" row while busy
  var syncing = null;   // the promise of a running sync
  var started = false;  // the transcript has been loaded once
  var pinned = true;    // the view follows the newest message

  function byId(id) { return document.getElementById(id); }

  function readBoot() {
    try { return JSON.parse(byId("kc-boot").textContent) || {}; } catch (e) { return {}; }
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function newId() {
    var c = window.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    var bytes = new Uint8Array(16);
    c.getRandomValues(bytes);  // randomUUID needs a secure context; a LAN http:// address is not one
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] + 256).toString(16).slice(1);
    return out;
  }

  function applyUi() {
    document.documentElement.lang = locale;
    if (ui.title) document.title = ui.title;
    byId("title").textContent = ui.title || "";
    byId("subtitle").textContent = ui.subtitle || "";
    input.placeholder = ui.placeholder || "";
    input.setAttribute("aria-label", ui.placeholder || "");
    input.maxLength = maxText;
    labelButton(sendBtn, ui.send);
    labelButton(attachBtn, ui.attach);
    log.setAttribute("aria-label", ui.title || "");
    jump.textContent = ui.new_messages || "";
  }

  function labelButton(button, text) {
    button.setAttribute("aria-label", text || "");
    button.title = text || "";
  }

  /* ---------- scrolling ---------- */

  function atBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 64; }

  function toBottom() {
    log.scrollTop = log.scrollHeight;
    pinned = true;
    jump.hidden = true;
  }

  log.addEventListener("scroll", function () {
    pinned = atBottom();
    if (pinned) jump.hidden = true;
  });
  jump.addEventListener("click", toBottom);
  // The on-screen keyboard shrinks the page: keep the newest message in sight.
  window.addEventListener("resize", function () { if (pinned) toBottom(); });

  /* ---------- rendering ---------- */

  function safeUrl(url) {
    return typeof url === "string" && /^(https?:\/\/|\/(?!\/)|api\/chat\/files\/\d+$)/i.test(url);
  }

  function formatSize(bytes) {
    if (typeof bytes !== "number") return "";
    var nf;
    try { nf = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }); } catch (e) { nf = { format: String }; }
    if (bytes < 1024 * 1024) return nf.format(Math.max(1, Math.round(bytes / 1024))) + " KB";
    return nf.format(bytes / (1024 * 1024)) + " MB";
  }

  var ICONS = {
    doc: "M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8l-6-6zm2 16H8v-2h8v2zm0-4H8v-2h8v2zm-3-5V3.5L18.5 9H13z",
    image: "M21 19V5a2 2 0 0 0-2-2H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2zM8.5 13.5l2.5 3 3.5-4.5 4.5 6H5l3.5-4.5z"
  };

  function icon(path) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "file-icon");
    svg.setAttribute("aria-hidden", "true");
    var shape = document.createElementNS(ns, "path");
    shape.setAttribute("fill", "currentColor");
    shape.setAttribute("d", path);
    svg.appendChild(shape);
    return svg;
  }

  function fileChip(file) {
    var box = el("div", "file");
    box.appendChild(icon(/\.(jpe?g|png|gif|webp|heic|heif|bmp)$/i.test(file.name || "") ? ICONS.image : ICONS.doc));
    var meta = el("div", "file-meta");
    meta.appendChild(el("span", "file-name", file.name || ""));
    var size = formatSize(file.size);
    if (size) meta.appendChild(el("span", "file-size", size));
    box.appendChild(meta);
    return box;
  }

  function render(m) {
    var mine = m.dir === "in";
    var row = el("div", "msg " + (mine ? "user" : "bot"));
    if (m.id) row.setAttribute("data-id", m.id);
    var bubble = el("div", "bubble");
    bubble.appendChild(el("span", "sr", (mine ? ui.you : ui.bot) + ": "));
    if (m.file) bubble.appendChild(fileChip(m.file));
    (m.more_files || []).forEach(function (f) { bubble.appendChild(fileChip(f)); });
    bubble.appendChild(el("div", "text", m.text || ""));
    row.appendChild(bubble);

    var actions = null;
    function box() {
      if (!actions) { actions = el("div", "actions"); row.appendChild(actions); }
      return actions;
    }
    if (m.file && m.file.href && safeUrl(m.file.href)) {
      var download = el("a", "link download", ui.download);
      download.href = m.file.href;
      download.setAttribute("download", m.file.name || "");
      box().appendChild(download);
    }
    if (m.url && safeUrl(m.url)) {
      var link = el("a", "link", m.url_label || ui.open_link);
      link.href = m.url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      box().appendChild(link);
    }
    (m.choices || []).forEach(function (choice) {
      var button = el("button", "choice", choice.label);
      button.type = "button";
      button.disabled = true;  // refreshChoices() enables the latest reply's buttons
      button.addEventListener("click", function () {
        if (!button.disabled && !busy) sendChoice(choice.payload, choice.label);
      });
      box().appendChild(button);
    });
    return row;
  }

  // Adds transcript messages not yet on screen, in order, above the typing indicator.
  function addMessages(list, follow) {
    var stick = follow || atBottom();
    var added = false;
    (list || []).forEach(function (m) {
      if (m.id) {
        if (seen[m.id]) return;
        seen[m.id] = true;
        if (m.id > lastId) lastId = m.id;
      }
      log.insertBefore(render(m), typing);
      added = true;
    });
    refreshChoices();
    if (!added) return;
    if (stick) toBottom(); else jump.hidden = false;
  }

  // Only the buttons of the bot's latest reply (everything after the user's last message) work:
  // an old step cannot be pressed again.
  function refreshChoices() {
    var rows = log.querySelectorAll(".msg");
    var live = true;
    for (var i = rows.length - 1; i >= 0; i--) {
      var row = rows[i];
      if (row.classList.contains("user")) {
        if (!row.classList.contains("failed")) live = false;
        continue;
      }
      var buttons = row.querySelectorAll(".choice");
      for (var j = 0; j < buttons.length; j++) buttons[j].disabled = busy || !live;
    }
  }

  function note(text) {
    var n = el("div", "note", text);
    n.setAttribute("role", "alert");
    log.insertBefore(n, typing);
    toBottom();
    return n;
  }

  function retryButton(onClick) {
    var button = el("button", "retry", ui.retry);
    button.type = "button";
    button.addEventListener("click", function () { if (!busy) onClick(); });
    return button;
  }

  function userBubble(text, file, more) {
    var row = render({ dir: "in", text: text, file: file, more_files: more || [] });
    row.classList.add("pending");
    log.insertBefore(row, typing);
    toBottom();
    return row;
  }

  function setBusy(on) {
    busy = on;
    sendBtn.disabled = on;
    attachBtn.disabled = on;
    if (on && !typing) {
      typing = el("div", "msg bot typing");
      var bubble = el("div", "bubble");
      bubble.setAttribute("role", "status");
      bubble.setAttribute("aria-label", ui.typing || "");
      for (var i = 0; i < 3; i++) bubble.appendChild(el("span", "dot"));
      typing.appendChild(bubble);
      log.appendChild(typing);
      if (pinned) toBottom();
    } else if (!on && typing) {
      typing.parentNode.removeChild(typing);
      typing = null;
    }
    refreshChoices();
  }

  /* ---------- talking to the server ---------- */

  function api(method, url, body) {
    var ctrl = window.AbortController ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, SEND_TIMEOUT_MS) : null;
    var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (ctrl) options.signal = ctrl.signal;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        clearTimeout(timer);
        return { ok: response.ok, status: response.status, data: parse(text) };
      });
    }, function (error) {
      clearTimeout(timer);
      throw error;
    });
  }

  function parse(text) {
    try { return JSON.parse(text) || {}; } catch (e) { return {}; }
  }

  // What a send or an upload answered. `row` is the user's bubble (null for the silent /start).
  function handleReply(r, row, retry, rejected) {
    var data = r.data || {};
    if (r.ok) {
      if (row) {
        if (data.sent && data.sent.id && !seen[data.sent.id]) {
          seen[data.sent.id] = true;
          if (data.sent.id > lastId) lastId = data.sent.id;
          row.parentNode.replaceChild(render(data.sent), row);
        } else {
          row.parentNode.removeChild(row);  // already on screen, or the sync below brings it
        }
      }
      addMessages(data.messages, true);
      // A retry of a request whose answer was lost: what the server kept comes by sync.
      if (data.duplicate) sync();
      if (data.locale && data.locale !== locale) reloadState();
      return;
    }
    var message = data.error || ui.error;
    if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
      // Refused for good (too long, too large): nothing to retry; give the text back to edit.
      if (row) row.parentNode.removeChild(row);
      if (rejected) rejected();
      note(message);
    } else {
      fail(row, message, retry);
    }
  }

  function fail(row, message, retry) {
    if (!row) {
      var n = note(message);
      n.appendChild(el("br"));
      n.appendChild(retryButton(function () { n.parentNode.removeChild(n); retry(); }));
      return;
    }
    row.classList.remove("pending");
    row.classList.add("failed");
    var failure = el("div", "failure");
    failure.setAttribute("role", "alert");
    failure.appendChild(el("span", null, message));
    failure.appendChild(retryButton(retry));
    row.appendChild(failure);
    refreshChoices();
    toBottom();
  }

  function clearFailure(row) {
    if (!row) return;
    row.classList.remove("failed");
    row.classList.add("pending");
    var failure = row.querySelector(".failure");
    if (failure) failure.parentNode.removeChild(failure);
  }

  function submit(body, row, rejected) {
    clearFailure(row);
    setBusy(true);
    var retry = function () { submit(body, row, rejected); };
    return (syncing || Promise.resolve())
      .then(function () { return api("POST", "api/chat/send", body); })
      .then(function (r) {
        setBusy(false);
        handleReply(r, row, retry, rejected);
      }, function () {
        setBusy(false);
        fail(row, ui.offline, retry);
      });
  }

  function sendText(text) {
    var row = userBubble(text, null);
    submit({ id: newId(), text: text }, row, function () {
      if (!input.value) { input.value = text; autosize(); }
    });
  }

  function sendChoice(payload, label) {
    var row = userBubble(label, null);
    submit({ id: newId(), choice: payload, label: label }, row, null);
  }

  // Several files picked together go in one request, and the assistant answers them once.
  function upload(files, id, row) {
    clearFailure(row);
    setBusy(true);
    var bubble = row.querySelector(".bubble");
    var bar = el("div", "progress");
    var fill = el("div");
    bar.appendChild(fill);
    var info = el("div", "progress-row");
    var percent = el("span", null, ui.uploading);
    var cancel = el("button", null, ui.cancel);
    cancel.type = "button";
    info.appendChild(percent);
    info.appendChild(cancel);
    bubble.appendChild(bar);
    bubble.appendChild(info);
    toBottom();

    var retry = function () { upload(files, id, row); };
    function finish() {
      bubble.removeChild(bar);
      bubble.removeChild(info);
      setBusy(false);
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "api/chat/upload");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable) return;
      var p = Math.min(100, Math.round((e.loaded * 100) / e.total));
      fill.style.width = p + "%";
      percent.textContent = ui.uploading + " " + p + "%";
    };
    xhr.upload.onload = function () {
      fill.style.width = "100%";
      cancel.hidden = true;  // all sent: the assistant is reading it now
    };
    xhr.onload = function () {
      finish();
      var ok = xhr.status >= 200 && xhr.status < 300;
      handleReply({ ok: ok, status: xhr.status, data: parse(xhr.responseText) }, row, retry, null);
    };
    xhr.onerror = xhr.ontimeout = function () {
      finish();
      fail(row, ui.upload_failed, retry);
    };
    xhr.onabort = function () {
      finish();
      row.parentNode.removeChild(row);
      refreshChoices();
    };
    cancel.addEventListener("click", function () { xhr.abort(); });
    var data = new FormData();
    data.append("id", id);
    files.forEach(function (f) { data.append("file", f, f.name); });
    xhr.send(data);
  }

  // Messages that arrived without a request of ours (reminders, announcements, staff).
  function sync() {
    if (syncing) return syncing;
    syncing = api("GET", "api/chat/updates?after=" + lastId)
      .then(function (r) { if (r.ok) addMessages(r.data.messages, false); }, function () {})
      .then(function () { syncing = null; });
    return syncing;
  }

  function takeState(data) {
    if (data.ui) ui = data.ui;
    if (data.locale) locale = data.locale;
    if (data.max_upload_bytes) maxUpload = data.max_upload_bytes;
    if (data.max_files) maxFiles = data.max_files;
    if (data.max_text) maxText = data.max_text;
    applyUi();
    addMessages(data.messages, true);
  }

  function reloadState() {
    api("GET", "api/chat/state").then(function (r) { if (r.ok) takeState(r.data); }, function () {});
  }

  function start() {
    api("GET", "api/chat/state").then(function (r) {
      if (!r.ok) throw new Error("state " + r.status);
      takeState(r.data);
      started = true;
      if (!(r.data.messages || []).length) submit({ id: newId(), text: "/start", silent: true }, null, null);
    }).catch(function () {
      var box = el("div", "center");
      box.appendChild(el("div", "note", ui.load_failed));
      box.appendChild(retryButton(function () { box.parentNode.removeChild(box); start(); }));
      log.appendChild(box);
    });
  }

  /* ---------- the composer ---------- */

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 140) + "px";
  }

  input.addEventListener("input", autosize);
  // maxLength cuts a long paste without a word; say so, so nobody sends half a text unknowingly.
  input.addEventListener("paste", function (e) {
    var pasted = (e.clipboardData || window.clipboardData).getData("text") || "";
    var kept = input.value.length - (input.selectionEnd - input.selectionStart);
    if (kept + pasted.length > maxText) note(ui.text_cut);
  });
  input.addEventListener("keydown", function (e) {
    // Enter sends, Shift+Enter breaks the line; never while a Vietnamese IME is composing a word.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      trySend();
    }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    trySend();
  });

  function trySend() {
    var text = input.value.trim();
    if (busy || !text) return;
    input.value = "";
    autosize();
    sendText(text);
  }

  attachBtn.addEventListener("click", function () { if (!busy) fileInput.click(); });
  fileInput.addEventListener("change", function () {
    var files = Array.prototype.slice.call(fileInput.files || [], 0, maxFiles);
    fileInput.value = "";
    if (!files.length || busy) return;
    for (var i = 0; i < files.length; i++) {
      if (maxUpload && files[i].size > maxUpload) { note(ui.too_large); return; }
      if (!files[i].size) { note(ui.empty_file); return; }
    }
    var chips = files.map(function (f) { return { name: f.name, size: f.size }; });
    upload(files, newId(), userBubble("", chips[0], chips.slice(1)));
  });

  /* ---------- connection ---------- */

  function showOffline(offline) {
    banner.textContent = ui.no_connection || "";
    banner.hidden = !offline;
  }
  window.addEventListener("offline", function () { showOffline(true); });
  window.addEventListener("online", function () { showOffline(false); if (started) sync(); });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && started && !busy) sync();
  });
  setInterval(function () {
    if (!document.hidden && started && !busy) sync();
  }, POLL_MS);

  applyUi();
  if (navigator.onLine === false) showOffline(true);
  start();
})();
