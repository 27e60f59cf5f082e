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
