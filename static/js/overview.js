// The overview chart: valid / invalid / unplanned per bucket, from /api/apps/<id>/stats.
(function () {
  "use strict";
  const holder = document.getElementById("chart");
  const picker = document.getElementById("chart-range");
  if (!holder || !window.uPlot) return;
  const colors = { valid: "#1f8a4c", invalid: "#c62828", unplanned: "#b7791f" };
  let plot = null;

  function draw(series) {
    const data = [series.t, series.valid, series.invalid, series.unplanned];
    const width = holder.clientWidth || 600;
    if (plot) plot.destroy();
    plot = new uPlot({
      width: width,
      height: 240,
      series: [
        {},
        { label: "valid", stroke: colors.valid, width: 2 },
        { label: "invalid", stroke: colors.invalid, width: 2 },
        { label: "unplanned", stroke: colors.unplanned, width: 2 },
      ],
      axes: [{}, { size: 50 }],
    }, data, holder);
  }

  let latest = null;
  function load() {
    fetch(holder.dataset.statsUrl + "?range=" + encodeURIComponent(picker.value), {
      headers: { Accept: "application/json" }, credentials: "same-origin",
    })
      .then(function (answer) { return answer.json(); })
      .then(function (body) { latest = body.series; draw(latest); holder.dataset.loaded = "1"; });
  }

  picker.addEventListener("change", load);
  window.addEventListener("resize", function () { if (latest) draw(latest); });
  load();
  setInterval(load, 30000);
})();
