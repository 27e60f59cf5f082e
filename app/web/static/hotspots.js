// Hot spots: one Chart.js chart per view, drawn from the JSON the page carries (the same numbers as
// the tables under the charts, which stay the accessible and printable source).
(function () {
  "use strict";
  var PALETTE = ["#1d5fbf", "#c62828", "#1a7f37", "#9a6700", "#6f42c1", "#0f7b8a", "#d4569c", "#5f6b7a", "#8c564b"];

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    var chart = new window.Chart(canvas, config);
    canvas.setAttribute("data-ready", "true");
    return chart;
  }

  function bars(data, label) {
    return {
      type: "bar",
      data: { labels: data.labels, datasets: [{ label: label, data: data.data, backgroundColor: "#1d5fbf",
                                                maxBarThickness: 26 }] },
      options: { indexAxis: "y", maintainAspectRatio: false, animation: false,
                 plugins: { legend: { display: false } },
                 scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
    };
  }

  function start() {
    var source = document.getElementById("hotspots-data");
    if (!source || !window.Chart) return;
    var data = JSON.parse(source.textContent);
    var text = data.text || {};
    var anyRising = data.trend.datasets.some(function (set) { return set.rising; });
    draw("chart-trend", {
      type: "line",
      data: {
        labels: data.trend.labels,
        datasets: data.trend.datasets.map(function (set, i) {
          var color = PALETTE[i % PALETTE.length];
          return { label: set.label + (set.rising ? " ↑" + text.rising : ""), data: set.data, borderColor: color,
                   backgroundColor: color, borderWidth: set.rising ? 4 : 2, tension: 0,
                   borderDash: anyRising && !set.rising ? [4, 3] : [], pointRadius: set.rising ? 4 : 2 };
        })
      },
      options: { maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false },
                 scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
                 plugins: { legend: { position: "bottom" } } }
    });
    draw("chart-places", {
      type: "bar",
      data: {
        labels: data.places.labels,
        datasets: data.places.datasets.map(function (set, i) {
          return { label: set.label, data: set.data, backgroundColor: PALETTE[i % PALETTE.length],
                   maxBarThickness: 40 };
        })
      },
      options: { indexAxis: "y", maintainAspectRatio: false, animation: false,
                 scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } },
                 plugins: { legend: { position: "bottom" } } }
    });
    draw("chart-petitioners", bars(data.petitioners, text.cases));
    draw("chart-repeat-places", bars(data.repeatPlaces, text.cases));
    // printing: draw at the printed size
    window.addEventListener("beforeprint", function () {
      Object.values(window.Chart.instances || {}).forEach(function (chart) { chart.resize(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
