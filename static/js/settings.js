// Settings page: secret Reveal/Hide (auto-hide after 30 s) and "Generate" for webhook secrets.
// Loaded as a static file (CSP: no inline script); event delegation survives HTMX swaps.
(function () {
  "use strict";

  var HIDE_AFTER_MS = 30000;
  var MASK = "\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function cellOf(button) {
    var row = button.closest("tr");
    return row ? row.querySelector(".secret-cell") : null;
  }

  function hide(button) {
    var cell = cellOf(button);
    if (!cell) return;
    if (button._hideTimer) { clearTimeout(button._hideTimer); button._hideTimer = null; }
    var plain = cell.querySelector(".secret-plain");
    plain.textContent = "";  // the value leaves the DOM, not only the screen
    plain.hidden = true;
    cell.querySelector(".secret-mask").textContent = MASK;
    cell.querySelector(".secret-mask").hidden = false;
    cell.setAttribute("data-revealed", "false");
    button.textContent = "Reveal";
  }

  function reveal(button) {
    var cell = cellOf(button);
    if (!cell) return;
    button.disabled = true;
    fetch(button.getAttribute("data-reveal-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (data) {
      var plain = cell.querySelector(".secret-plain");
      plain.textContent = data.value === "" ? "(empty)" : data.value;
      plain.hidden = false;
      cell.querySelector(".secret-mask").hidden = true;
      cell.setAttribute("data-revealed", "true");
      button.textContent = "Hide";
      button._hideTimer = setTimeout(function () { hide(button); }, HIDE_AFTER_MS);
    }).catch(function (err) {
      var box = document.getElementById("htmx-error");
      if (box) { box.textContent = "Reveal failed (" + err.message + ")."; box.hidden = false; }
    }).then(function () { button.disabled = false; });
  }

  function generateSecret() {
    var bytes = new Uint8Array(24);
    window.crypto.getRandomValues(bytes);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return "whsec_" + window.btoa(bin);
  }

  document.addEventListener("click", function (ev) {
    var toggle = ev.target.closest(".secret-toggle");
    if (toggle) {
      ev.preventDefault();
      var cell = cellOf(toggle);
      if (cell && cell.getAttribute("data-revealed") === "true") hide(toggle); else reveal(toggle);
      return;
    }
    var gen = ev.target.closest("[data-generate-secret]");
    if (gen) {
      ev.preventDefault();
      var input = document.querySelector(gen.getAttribute("data-generate-secret"));
      if (input) { input.value = generateSecret(); input.dispatchEvent(new Event("input", { bubbles: true })); }
    }
  });
})();
