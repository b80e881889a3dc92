// pms-luigi desk console: the little script the pages use. Everything works without it;
// it adds the grid's live update, confirmation of a rerun and the refresh of the Today
// view and of a running rerun's page. Served from /static (the pages allow no inline script).
"use strict";

function pollGrid(grid) {
  var live = document.getElementById("live");
  var updated = document.getElementById("updated");
  var seconds = parseFloat(grid.dataset.poll) || 5;
  if (live) { live.parentElement.hidden = false; }
  var symbols = {};
  document.querySelectorAll(".legend .sym").forEach(function (el) {
    symbols[el.className.replace(/.*\bs-/, "")] = el.textContent;
  });
  function apply(data) {
    grid.querySelectorAll("table.grid").forEach(function (table) {
      var first = parseInt(table.dataset.first, 10);
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        var family = data.families[parseInt(tr.dataset.f, 10)];
        var states = data.states[family];
        tr.querySelectorAll("td").forEach(function (td, i) {
          var state = states[first + i];
          if (state === undefined || td.className === "s-" + state) { return; }
          td.className = "s-" + state;
          var a = td.querySelector("a");
          a.textContent = symbols[state] || "?";
          a.title = family + " " + data.dates[first + i] + ": " + state;
        });
      });
    });
    document.querySelectorAll("#totals tbody tr").forEach(function (tr) {
      var counts = data.counts[tr.dataset.family] || {};
      tr.querySelectorAll("td[data-state]").forEach(function (td) {
        td.textContent = counts[td.dataset.state] || 0;
      });
    });
    if (updated) { updated.textContent = "updated " + new Date().toLocaleTimeString(); }
  }
  function tick() {
    if (live && !live.checked) { return; }
    fetch(grid.dataset.api, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(apply)
      .catch(function (e) { if (updated) { updated.textContent = "update failed (" + e.message + ")"; } });
  }
  window.setInterval(tick, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", function () {
  var grid = document.getElementById("grid");
  if (grid && grid.dataset.api) { pollGrid(grid); }
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
    });
  });
  var refresh = document.querySelector("[data-refresh]");
  var seconds = refresh ? parseFloat(refresh.dataset.refresh) : 0;
  if (seconds > 0) { window.setTimeout(function () { window.location.reload(); }, seconds * 1000); }
});
