// Tessera admin console: shows every <time class="local" datetime="…Z"> in the browser's time
// zone, with the server's UTC text kept in its tooltip. The console works without this script.
"use strict";
(function () {
  var zone, thisYear = new Date().getFullYear(), formats = {};
  try {
    zone = new Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  function format(withYear) {
    var key = withYear ? "year" : "short";
    if (!formats[key]) {
      var options = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
      if (withYear) {
        options.year = "numeric";
      }
      formats[key] = new Intl.DateTimeFormat(undefined, options);
    }
    return formats[key];
  }
  function localise(el) {
    var when = new Date(el.getAttribute("datetime"));
    if (isNaN(when.getTime())) {
      return;
    }
    var utc = el.getAttribute("data-utc") || el.textContent.trim();
    el.setAttribute("data-utc", utc);
    el.setAttribute("title", utc + (zone ? " (shown in " + zone + ")" : ""));
    el.textContent = format(when.getFullYear() !== thisYear).format(when);
  }
  var times = document.querySelectorAll("time.local[datetime]");
  for (var i = 0; i < times.length; i++) {
    localise(times[i]);
  }
})();
