// The process monitor: the process version's diagram (bpmn-js NavigatedViewer from node_modules) with
// an overlay on each step: cases waiting there (blue), overdue (red), the median / P90 time finished
// tasks spent there, and incidents. Clicking a step (or its badge) lists its cases below via htmx.
// Without JavaScript the table under the diagram has the same numbers and links.
(function () {
  "use strict";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showStep(url) {
    var target = document.getElementById("step-cases");
    if (!url || !target) return;
    if (window.htmx) {
      window.htmx.ajax("GET", url, { target: "#step-cases", swap: "innerHTML" }).then(function () {
        target.scrollIntoView({ behavior: "smooth", block: "start" });
      });
    } else {
      window.location.href = url;
    }
  }

  function badge(box, id, step) {
    var wrap = el("button", "m-badge");
    wrap.type = "button";
    wrap.setAttribute("data-step", id);
    var label = [];
    if (step.cases) {
      wrap.appendChild(el("span", "m-cases", String(step.cases)));
      label.push(box.getAttribute("data-label-cases") + " " + step.cases);
    }
    if (step.overdue) {
      wrap.appendChild(el("span", "m-overdue", String(step.overdue)));
      label.push(box.getAttribute("data-label-overdue") + " " + step.overdue);
    }
    if (step.incidents) {
      wrap.appendChild(el("span", "m-incident", "!" + step.incidents));
      label.push(box.getAttribute("data-label-incidents") + " " + step.incidents);
    }
    wrap.setAttribute("aria-label", label.join("，"));
    wrap.addEventListener("click", function (event) {
      event.stopPropagation();
      showStep(step.url);
    });
    return wrap;
  }

  function timing(box, step) {
    var text = step.text || {};
    if (!text.done_median && !text.waiting_median) return null;
    var node = el("div", "m-time");
    if (text.done_median) {
      node.appendChild(el("span", "", box.getAttribute("data-label-median") + " " + text.done_median +
                                      " / P90 " + text.done_p90));
    } else {
      node.appendChild(el("span", "", box.getAttribute("data-label-waiting") + " " + text.waiting_median));
    }
    return node;
  }

  // A wide process fitted into the box is too small to read: fit its height instead and start at
  // its left end; people pan (drag) and zoom (ctrl + wheel) from there.
  function readable(canvas) {
    canvas.zoom("fit-viewport", "auto");
    var box = canvas.viewbox();
    var inner = box.inner, outer = box.outer;
    if (!inner || !inner.height || !outer.height) return;
    var zoom = Math.min(1, outer.height / (inner.height + 60));
    if (zoom <= box.scale * 1.05) return;
    canvas.zoom(zoom);
    var now = canvas.viewbox();
    canvas.viewbox({ x: inner.x - 20, y: inner.y - (now.height - inner.height) / 2,
                     width: now.width, height: now.height });
  }

  function start() {
    window.onestopDiagram("monitor-diagram", "stats", function (viewer, stats, box) {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      var overlays = viewer.get("overlays");
      var steps = stats.steps || {};
      Object.keys(steps).forEach(function (id) {
        var step = steps[id];
        var shape = registry.get(id);
        if (!shape || shape.waypoints) return;
        if (step.cases || step.done || step.incidents) canvas.addMarker(id, "m-step");
        if (step.overdue) canvas.addMarker(id, "m-late");
        if (step.incidents) canvas.addMarker(id, "m-failed");
        if (step.cases || step.overdue || step.incidents) {
          overlays.add(id, "monitor", { position: { top: -14, right: 18 }, html: badge(box, id, step) });
        }
        var time = timing(box, step);
        if (time) overlays.add(id, "monitor", { position: { bottom: 4, left: 0 }, html: time });
      });
      viewer.get("eventBus").on("element.click", function (event) {
        var step = steps[event.element.id];
        if (step && (step.cases || step.done)) showStep(step.url);
      });
      readable(canvas);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
