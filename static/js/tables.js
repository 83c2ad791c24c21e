// Narrow screens show each row of a list table as a card (style.css, "table.list" under
// 700px); each cell is labelled with its column's heading, also for rows added later.
(function () {
  "use strict";
  function label(table) {
    const headings = Array.from(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    if (!headings.length) return;
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.from(row.children).forEach(function (cell, index) {
        if (headings[index] && !cell.hasAttribute("colspan")) cell.dataset.label = headings[index];
      });
    });
  }
  document.querySelectorAll("table.list").forEach(function (table) {
    label(table);
    const body = table.tBodies[0];
    if (body) new MutationObserver(function () { label(table); }).observe(body, { childList: true });
  });
})();
