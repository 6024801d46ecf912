// Terminals page: switch tabs without reloading and keep the URL (?tab=<id>) in step.
(function () {
  "use strict";
  function select(code) {
    var found = false;
    document.querySelectorAll("[data-tab]").forEach(function (tab) {
      var on = tab.getAttribute("data-tab") === code;
      found = found || on;
      tab.classList.toggle("active", on);
      tab.setAttribute("aria-selected", on ? "true" : "false");
    });
    if (!found) return false;
    document.querySelectorAll("[data-panel]").forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-panel") !== code;
    });
    var url = new URL(window.location.href);
    url.searchParams.set("tab", code);
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    return true;
  }
  document.addEventListener("click", function (ev) {
    var tab = ev.target.closest("[data-tab]");
    if (!tab || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
    if (select(tab.getAttribute("data-tab"))) ev.preventDefault();
  });
  document.addEventListener("DOMContentLoaded", function () {
    // The server already picked the tab; an unknown ?tab= is rewritten to the one shown.
    var active = document.querySelector("[data-tab].active");
    if (active) select(active.getAttribute("data-tab"));
  });
})();
