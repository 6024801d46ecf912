// Timeline page: keep relative times current and keep opened details open across live refreshes.
(function () {
  "use strict";

  function plural(n, unit) { return n + " " + unit + (n === 1 ? "" : "s") + " ago"; }

  function relative(then) {
    var s = Math.round((Date.now() - then) / 1000);
    if (s < 45) return "just now";
    var m = Math.round(s / 60);
    if (m < 60) return plural(m, "minute");
    var h = Math.round(m / 60);
    if (h < 24) return plural(h, "hour");
    return plural(Math.round(h / 24), "day");
  }

  function refresh(root) {
    (root || document).querySelectorAll("time[data-relative]").forEach(function (t) {
      var when = Date.parse(t.getAttribute("datetime"));
      if (!isNaN(when)) t.textContent = relative(when);
    });
  }

  function isEntries(ev) { return ev.detail.target && ev.detail.target.id === "timeline-entries"; }

  var opened = [];
  document.addEventListener("htmx:beforeSwap", function (ev) {
    if (!isEntries(ev)) return;
    opened = Array.prototype.map.call(
      document.querySelectorAll("#timeline-entries li.entry details[open]"),
      function (d) { return d.closest("li.entry").getAttribute("data-id"); });
  });
  document.addEventListener("htmx:afterSwap", function (ev) {
    if (!isEntries(ev)) return;
    opened.forEach(function (id) {
      var d = document.querySelector('#timeline-entries li.entry[data-id="' + id + '"] details');
      if (d) d.open = true;
    });
    refresh(ev.detail.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    refresh();
    setInterval(refresh, 30000);
  });
})();
