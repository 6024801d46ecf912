// Chain page: keep the live agent output scrolled to its end after each refresh. No inline scripts (CSP).
(function () {
  "use strict";
  function scroll(root) {
    (root || document).querySelectorAll("pre[data-autoscroll]").forEach(function (el) {
      el.scrollTop = el.scrollHeight;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { scroll(document); });
  document.addEventListener("htmx:afterSwap", function () { scroll(document); });
})();
