// Small behaviours HTMX does not cover. No inline scripts anywhere (CSP script-src 'self').
(function () {
  "use strict";

  // <button data-copy="text"> or data-copy-permalink="/path": copy to the clipboard.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy], [data-copy-permalink]");
    if (!btn) return;
    ev.preventDefault();
    var text = btn.hasAttribute("data-copy-permalink")
      ? window.location.origin + btn.getAttribute("data-copy-permalink")
      : btn.getAttribute("data-copy");
    var done = function () {
      var old = btn.textContent;
      btn.textContent = "Copied";
      btn.classList.add("copied");
      setTimeout(function () { btn.textContent = old; btn.classList.remove("copied"); }, 1500);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { window.prompt("Copy:", text); });
    } else {
      window.prompt("Copy:", text);
    }
  });

  // <form data-confirm-typed="word">: the submit button stays disabled until the word is typed.
  document.addEventListener("input", function (ev) {
    var form = ev.target.closest("form[data-confirm-typed]");
    if (!form) return;
    var want = form.getAttribute("data-confirm-typed");
    var input = form.querySelector("[name=confirm_text]");
    var submit = form.querySelector("[type=submit]");
    if (input && submit) submit.disabled = input.value.trim() !== want;
  });

  // Keep the browser history in step with HTMX filter forms that declare hx-push-url.
  document.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail.xhr;
    var target = document.getElementById("htmx-error");
    if (target) {
      target.textContent = "Request failed (" + xhr.status + "). " + (xhr.status === 403 ? "Your session may have expired: reload the page." : "");
      target.hidden = false;
    }
  });
})();
