// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Move focus to the error summary or alert so screen readers announce it.
    var focus = document.querySelector("[data-focus]");
    if (focus) { focus.focus(); }
    // Live character count for fields with data-count (A13: at most 400).
    document.querySelectorAll("textarea[data-count]").forEach(function (area) {
      var max = parseInt(area.getAttribute("data-count"), 10);
      var out = document.getElementById(area.id + "-count");
      if (!out) { return; }
      var template = out.getAttribute("data-template") || "%d";
      var update = function () {
        var left = max - area.value.length;
        out.textContent = template.replace("%d", String(left));
        out.classList.toggle("over", left < 0);
      };
      area.addEventListener("input", update);
      update();
    });
    // An approved call continues by itself.
    var auto = document.querySelector("[data-autosubmit]");
    if (auto && auto.form) { auto.form.submit(); }
  });
})();
