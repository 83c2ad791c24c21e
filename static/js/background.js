// Refresh the webhook deliveries table from its JSON source every few seconds.
(function () {
  "use strict";
  var table = document.getElementById("webhook-deliveries");
  if (!table) { return; }
  var body = table.querySelector("tbody");

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    return td;
  }

  function render(deliveries) {
    if (!deliveries.length) { return; }
    var rows = deliveries.map(function (d) {
      var tr = document.createElement("tr");
      [d.created_at.replace("T", " ").slice(0, 19), d.kind, d.status, d.attempts,
       d.response_code || d.error || ""].forEach(function (v) { tr.appendChild(cell(v)); });
      return tr;
    });
    body.replaceChildren.apply(body, rows);
  }

  function refresh() {
    fetch(table.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { render(data.deliveries); } })
      .catch(function () { /* try again at the next tick */ });
  }

  setInterval(refresh, 5000);
}());
