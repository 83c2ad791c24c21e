// Refresh the webhook deliveries table from its JSON source every few seconds.
(function () {
  "use strict";
  var table = document.getElementById("webhook-deliveries");
  // Several partials may load this file on one page: run once.
  if (!table || window.lvdDeliveriesFollowed) { return; }
  window.lvdDeliveriesFollowed = true;
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

// Follow each running job's progress until it finishes.
(function () {
  "use strict";
  if (window.lvdJobsFollowed) { return; }
  window.lvdJobsFollowed = true;
  var FINISHED = ["done", "cancelled", "failed"];

  function follow(row) {
    var state = row.querySelector(".job-state");
    var action = row.querySelector(".job-action");
    function tick() {
      fetch(row.dataset.jobProgress, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (job) {
          if (!job) { return; }
          var text = job.status + ": " + job.processed + " / " + (job.total === null ? "?" : job.total);
          if (job.kind === "revalidate") { text += ", " + job.changed + " changed"; }
          state.textContent = text;
          if (FINISHED.indexOf(job.status) === -1) { setTimeout(tick, 2000); return; }
          action.replaceChildren();
          if (job.download) {
            var link = document.createElement("a");
            link.href = job.download;
            link.textContent = "Download";
            action.appendChild(link);
          }
        })
        .catch(function () { setTimeout(tick, 5000); });
    }
    tick();
  }

  document.querySelectorAll("[data-job-progress]").forEach(function (row) {
    if (/^(queued|running)/.test(row.querySelector(".job-state").textContent.trim())) { follow(row); }
  });
}());
