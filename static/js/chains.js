// Chains list: a header checkbox that selects every row on the page. No inline scripts (CSP).
(function () {
  "use strict";
  document.addEventListener("change", function (ev) {
    var box = ev.target.closest("input[data-select-all]");
    if (!box) return;
    var name = box.getAttribute("data-select-all");
    var form = box.closest("form");
    form.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (el) {
      el.checked = box.checked;
    });
  });
})();
