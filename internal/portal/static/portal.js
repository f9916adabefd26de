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
    // While a call is under way, check its state every 3 seconds for up to
    // 3 minutes (then the "Check" button remains) without reloading the
    // page, so focus and the screen reader's place are kept; the page is
    // loaded again only when the call has ended or been approved.
    var poll = document.querySelector("[data-poll]");
    if (poll && window.fetch && window.DOMParser) {
      var tries = 0;
      var tick = function () {
        if (++tries > 60) { return; }
        fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var next = new DOMParser().parseFromString(html, "text/html");
            if (!next.querySelector("[data-poll]")) { location.replace(location.href); return; }
            var was = document.querySelector("[data-state]"), now = next.querySelector("[data-state]");
            if (was && now && was.textContent !== now.textContent) { was.textContent = now.textContent; }
            setTimeout(tick, 3000);
          })
          .catch(function () { setTimeout(tick, 3000); });
      };
      setTimeout(tick, 3000);
    }
    // An approved call continues by itself.
    var auto = document.querySelector("[data-autosubmit]");
    if (auto && auto.form) { auto.form.submit(); }
  });
})();
