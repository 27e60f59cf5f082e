// The form editor's small helpers (the page works without them): jump to the line of a JSON problem,
// Tab indents in the JSON boxes, "tidy" re-indents valid JSON, and a warning before leaving unsaved edits.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function lineStart(text, line) {
    var pos = 0;
    for (var n = 1; n < line; n++) {
      var next = text.indexOf("\n", pos);
      if (next < 0) return text.length;
      pos = next + 1;
    }
    return pos;
  }

  function goToLine(box, line) {
    var start = lineStart(box.value, line);
    var end = box.value.indexOf("\n", start);
    box.focus();
    box.setSelectionRange(start, end < 0 ? box.value.length : end);
    var height = parseFloat(getComputedStyle(box).lineHeight) || 18;
    box.scrollTop = Math.max(0, (line - 3) * height);
  }

  var dirty = false;

  document.addEventListener("click", function (event) {
    var jump = event.target.closest(".fe-goto");
    if (jump) {
      var box = document.getElementById(jump.dataset.target);
      if (box) goToLine(box, parseInt(jump.dataset.line, 10) || 1);
      return;
    }
    var tidy = event.target.closest(".fe-format");
    if (tidy) {
      var area = document.getElementById(tidy.dataset.target);
      try {
        area.value = JSON.stringify(JSON.parse(area.value), null, 2) + "\n";
        area.dispatchEvent(new Event("input", { bubbles: true }));
      } catch (e) {
        area.focus();  // invalid JSON: the problem list below the box already says where
      }
    }
  });

  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (event.key !== "Tab" || !box.classList || !box.classList.contains("fe-code") || box.readOnly) return;
    if (event.shiftKey || event.ctrlKey || event.altKey || event.metaKey) return;
    event.preventDefault();
    var start = box.selectionStart;
    box.setRangeText("  ", start, box.selectionEnd, "end");
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });

  function showTools() {
    document.querySelectorAll(".fe-format[hidden]").forEach(function (b) { b.hidden = false; });
  }

  document.addEventListener("DOMContentLoaded", showTools);
  document.addEventListener("htmx:afterSettle", showTools);
  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest("#fe-form")) dirty = true;
  });
  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#fe-form")) dirty = true;
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "fe-workspace") dirty = true;  // a field-list edit
  });
  document.addEventListener("submit", function () { dirty = false; });
  window.addEventListener("beforeunload", function (event) {
    var form = document.getElementById("fe-form");
    if (!dirty || !form) return;
    event.preventDefault();
    event.returnValue = form.dataset.dirtyMessage || "";
  });
})();
