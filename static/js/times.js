// Show every <time datetime> in the viewer's time zone; the UTC moment stays on hover.
(function () {
  "use strict";
  const full = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const today = new Date().toDateString();

  function localize(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (node) {
      const moment = new Date(node.getAttribute("datetime"));
      if (Number.isNaN(moment.getTime())) return;
      // Today's moments show the time of day only; older ones the date too.
      node.textContent = (moment.toDateString() === today ? clock : full).format(moment);
      node.title = moment.toISOString().replace(".000Z", "Z") + " (UTC)";
      node.dataset.local = "1";
    });
  }

  window.lvdLocalize = localize;
  localize(document);
})();
