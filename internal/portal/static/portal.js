// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Move focus to the error summary or alert so screen readers announce it.
    var focus = document.querySelector("[data-focus]");
    if (focus) { focus.focus(); }
    // Live character count for fields with data-count (A13: at most 400).
    // The wordings come from the page, one per plural form, so the count
    // reads "1 character left" and, past the limit, says by how much and what
    // to do rather than showing a negative number.
    document.querySelectorAll("textarea[data-count]").forEach(function (area) {
      var max = parseInt(area.getAttribute("data-count"), 10);
      var out = document.getElementById(area.id + "-count");
      if (!out) { return; }
      var word = function (kind, n) {
        var t = out.getAttribute("data-" + kind + (n === 1 ? "-one" : "-other")) || "%d";
        return t.replace("%d", String(n));
      };
      var update = function () {
        // Counted as the server counts: characters, not UTF-16 units, and
        // without the spaces it trims.
        var left = max - Array.from(area.value.trim()).length;
        out.textContent = left < 0 ? word("over", -left) : word("left", left);
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
            next.querySelectorAll("[data-live][id]").forEach(function (now) {
              var was = document.getElementById(now.id);
              if (was && was.textContent !== now.textContent) { was.textContent = now.textContent; }
            });
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
