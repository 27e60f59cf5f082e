// The case page's process diagram: bpmn-js NavigatedViewer (from node_modules) with the case's
// elements marked finished (grey-green), active (blue), overdue (red) or failed (red, dashed).
// Without JavaScript the page still shows everything else; the diagram box says so.
(function () {
  "use strict";
  var GROUPS = ["finished", "active", "overdue", "failed"];
  var READABLE_ZOOM = 0.8;

  // A long process fitted into the box is too small to read: zoom in on where the case is now, or,
  // for a case that is done, on the end it reached.
  function focus(canvas, registry, state) {
    if (canvas.zoom() >= READABLE_ZOOM) return;
    var root = canvas.getRootElement();
    var ids = (state.overdue || []).concat(state.failed || [], state.active || []);
    if (!ids.length) {
      ids = (state.finished || []).filter(function (id) {
        var element = registry.get(id);
        return element && element.type === "bpmn:EndEvent";
      });
    }
    for (var i = 0; i < ids.length; i++) {
      var element = registry.get(ids[i]);
      if (element && !element.waypoints && canvas.findRoot(element) === root) {
        canvas.zoom(READABLE_ZOOM);
        var box = canvas.viewbox();
        canvas.viewbox({ x: element.x + element.width / 2 - box.width / 2,
                         y: element.y + element.height / 2 - box.height / 2,
                         width: box.width, height: box.height });
        return;
      }
    }
  }

  function start() {
    window.onestopDiagram("case-diagram", "state", function (viewer, state) {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      GROUPS.forEach(function (group) {
        (state[group] || []).forEach(function (id) {
          if (registry.get(id)) canvas.addMarker(id, "d-" + group);
        });
      });
      canvas.zoom("fit-viewport", "auto");
      focus(canvas, registry, state);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
