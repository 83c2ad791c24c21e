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

  // Range pickers: their values are UTC; show them in local time, label the zone, and
  // submit RFC 3339 with the offset (the server reads any offset).
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const pad = function (n) { return String(n).padStart(2, "0"); };
  function localValue(moment) {
    return moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" + pad(moment.getDate()) +
      "T" + pad(moment.getHours()) + ":" + pad(moment.getMinutes());
  }
  function localizePickers(root) {
    root.querySelectorAll("input[data-utc-picker]:not([data-local])").forEach(function (input) {
      const moment = new Date(input.value + "Z");
      if (!Number.isNaN(moment.getTime())) input.value = localValue(moment);
      input.dataset.local = "1";
      const label = input.closest("label");
      const zoneLabel = label && label.querySelector("[data-zone-label]");
      if (zoneLabel) zoneLabel.textContent = "(" + zone + ")";
      const form = input.form;
      if (form && !form.dataset.rangeSubmit) {
        form.dataset.rangeSubmit = "1";
        form.addEventListener("submit", function () {
          form.querySelectorAll("input[data-utc-picker]").forEach(function (picker) {
            const picked = new Date(picker.value);  // datetime-local text is local time
            if (Number.isNaN(picked.getTime()) || !picker.name) return;
            const hidden = document.createElement("input");
            hidden.type = "hidden";
            hidden.name = picker.name;
            hidden.value = picked.toISOString();
            picker.removeAttribute("name");
            form.appendChild(hidden);
          });
        });
      }
    });
  }

  window.lvdLocalize = function (root) { localize(root); localizePickers(root); };
  localize(document);
  localizePickers(document);
})();
