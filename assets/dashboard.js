/* Animam dashboard: small progressive enhancements. Everything works without it. */
(function () {
  "use strict";
  /* Copy buttons: <button data-copy="ID"> copies the value or text of #ID. */
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (!target) return;
      var text = target.value !== undefined ? target.value : target.textContent;
      var done = function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { select(target); });
      } else {
        select(target);
        try { document.execCommand("copy"); done(); } catch (e) { /* selected for manual copy */ }
      }
    });
  });
  function select(target) {
    if (target.select) { target.focus(); target.select(); return; }
    var range = document.createRange();
    range.selectNodeContents(target);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  /* Forms with data-confirm ask first. */
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
  /* <input type=file data-load-into=ID> reads the chosen file into the textarea #ID. */
  document.querySelectorAll("input[type=file][data-load-into]").forEach(function (input) {
    input.addEventListener("change", function () {
      var target = document.getElementById(input.getAttribute("data-load-into"));
      var file = input.files && input.files[0];
      if (!target || !file) return;
      file.text().then(function (text) { target.value = text.replace(/^\uFEFF/, ""); });
    });
  });
  /* Settings: the preview follows the form as it is edited. */
  var settings = document.getElementById("settings");
  var mock = document.getElementById("widget-preview");
  if (settings && mock) {
    var value = function (name) { var f = settings.elements[name]; return f ? f.value : ""; };
    var update = function () {
      mock.style.setProperty("--p", value("primaryColor") || "#4f46e5");
      mock.style.setProperty("--s", value("secondaryColor") || "#ffffff");
      document.getElementById("mock-name").textContent = value("botName") || "Assistant";
      document.getElementById("mock-title").textContent = value("botTitle");
      var badge = settings.elements.showAiBadge;
      document.getElementById("mock-badge").hidden = badge ? !badge.checked : false;
    };
    settings.addEventListener("input", update);
    settings.addEventListener("change", update);
    update();
  }
})();
