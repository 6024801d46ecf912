// Task board: bring the task named by ?task=<id> into view.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var card = document.querySelector(".task-card.highlight");
    if (card) card.scrollIntoView({ block: "center" });
  });
})();
