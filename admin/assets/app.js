// sipprot's page works without this script; it only saves clicks.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A "select all" box ticks every box of its table; unticking one row
  // unticks it, so the list is not emptied by mistake.
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var table = all.closest("table");
    var rows = function () { return table.querySelectorAll("tbody input[type=checkbox]"); };
    all.addEventListener("change", function () {
      rows().forEach(function (box) { box.checked = all.checked; });
    });
    rows().forEach(function (box) {
      box.addEventListener("change", function () {
        if (!box.checked) { all.checked = false; }
      });
    });
  });
  // A search box hides the entries that do not contain what is typed.
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var items = document.querySelectorAll(input.getAttribute("data-filter"));
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      items.forEach(function (el) {
        el.hidden = q !== "" && el.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });
});
