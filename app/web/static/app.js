// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("htmx:responseError", function (event) {
  var box = document.getElementById("htmx-error");
  if (!box) {
    box = document.createElement("p");
    box.id = "htmx-error";
    box.className = "error";
    box.setAttribute("role", "alert");
    document.querySelector("main").prepend(box);
  }
  box.textContent = (document.documentElement.lang === "en" ? "Request failed: " : "操作失败：") +
    event.detail.xhr.status;
});

// A file over the upload limit is refused when it is picked, before minutes of uploading on a slow
// line end in the same refusal from the server (which still checks every file).
document.addEventListener("change", function (event) {
  var input = event.target;
  if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) return;
  var limit = Number(input.dataset.maxBytes);
  var big = Array.prototype.find.call(input.files || [], function (file) { return file.size > limit; });
  input.setCustomValidity(big ? input.dataset.tooLarge.replace("{name}", big.name) : "");
  if (big) input.reportValidity();
});

// A field that belongs to one choice (the form's JSON Schema if/then: the extension's working days
// when an extension is asked for) shows while that choice is made; hidden, its fieldset is disabled,
// so it is neither required nor sent. The server renders the same state and drops what it hides.
function chosenValue(form, name) {
  var inputs = form.querySelectorAll('[name="' + CSS.escape(name) + '"]');
  for (var i = 0; i < inputs.length; i++) {
    var input = inputs[i];
    if (input.type === "radio") { if (input.checked) return input.value; continue; }
    if (input.type === "checkbox") return input.checked ? input.value : "false";
    return input.value === "" ? null : input.value;
  }
  return null;
}

function showChosenFields(scope) {
  (scope || document).querySelectorAll("[data-show-when]").forEach(function (box) {
    var form = box.closest("form");
    if (!form) return;
    var shown = JSON.parse(box.dataset.showWhen).some(function (when) {
      var value = chosenValue(form, when.field);
      if (value === null) return when.negate;
      return (when.values.indexOf(value) >= 0) !== when.negate;
    });
    box.hidden = !shown;
    box.disabled = !shown;
  });
}

document.addEventListener("change", function (event) {
  var form = event.target.closest && event.target.closest("form");
  if (form) showChosenFields(form);
});
document.addEventListener("DOMContentLoaded", function () { showChosenFields(); });
document.addEventListener("htmx:afterSettle", function (event) { showChosenFields(event.target); });
