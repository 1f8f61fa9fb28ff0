// The staff console works without this file; it only adds confirmations and an upload progress bar.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if (form.hasAttribute("data-progress") && window.XMLHttpRequest && window.FormData) {
    event.preventDefault();
    const bar = form.querySelector("progress");
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    if (bar) {
      bar.hidden = false;
      request.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
      });
    }
    request.addEventListener("load", () => {
      document.open();
      document.write(request.responseText);
      document.close();
    });
    request.send(new FormData(form));
  }
});
