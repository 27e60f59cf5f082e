// Shared by the case page and the process monitor: open a deployed process diagram in bpmn-js'
// NavigatedViewer (from node_modules) together with the page's JSON about it, then let the page mark
// it up. The box carries the diagram's URL in data-xml, the JSON's in data-<json>, the message shown
// when either cannot be loaded in data-error, and gets data-ready="true" once drawn.
window.onestopDiagram = function (boxId, json, decorate) {
  "use strict";
  var box = document.getElementById(boxId);
  if (!box) return;
  var status = box.querySelector(".diagram-status");
  function fail() {
    if (status) status.textContent = box.getAttribute("data-error") || "";
  }
  if (!window.BpmnJS || !window.fetch) return fail();
  var viewer = new window.BpmnJS({ container: box.querySelector(".diagram") });
  var options = { credentials: "same-origin", headers: { Accept: "application/xml, application/json" } };
  Promise.all([
    fetch(box.getAttribute("data-xml"), options).then(function (r) {
      if (!r.ok) throw new Error("diagram " + r.status);
      return r.text();
    }),
    fetch(box.getAttribute("data-" + json), options).then(function (r) {
      if (!r.ok) throw new Error(json + " " + r.status);
      return r.json();
    })
  ]).then(function (loaded) {
    return viewer.importXML(loaded[0]).then(function () {
      decorate(viewer, loaded[1], box);
      box.setAttribute("data-ready", "true");
    });
  }).catch(fail);
};
