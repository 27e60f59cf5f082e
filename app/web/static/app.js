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
