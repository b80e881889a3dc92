// pms-luigi desk console: the little script the pages use. Everything works without it;
// it adds the grid's cell links and live update, confirmation of a rerun and the refresh of the Today
// view and of a running rerun's page. Served from /static (the pages allow no inline script).
"use strict";

// The status grid's tables (the status page's macros): a cell is (row data-f, the table's
// data-first + its column); the families and dates are in the embedded #status-data JSON.
function gridCells(each) {
  document.querySelectorAll("table.grid").forEach(function (table) {
    var first = parseInt(table.dataset.first, 10);
    table.querySelectorAll("tbody tr[data-f]").forEach(function (tr) {
      var fi = parseInt(tr.dataset.f, 10);
      tr.querySelectorAll("td").forEach(function (td, i) { each(td, fi, first + i); });
    });
  });
}

function cellPage(data, fi, di) {
  return "/cell/" + encodeURIComponent(data.families[fi]) + "/" + data.dates[di];
}

function linkGrid(data) {
  gridCells(function (td, fi, di) {
    var b = data.basic[fi][di];
    td.title = data.families[fi] + " " + data.dates[di] + ": " + td.className.slice(2) +
      (b ? " — run " + b[0] + ", finished " + b[1] + " BRT, " + b[2] + " s" : "");
  });
  document.addEventListener("click", function (ev) {
    var td = ev.target.closest ? ev.target.closest("table.grid tr[data-f] td") : null;
    if (!td) { return; }
    var table = td.closest("table"), tr = td.parentNode;
    var di = parseInt(table.dataset.first, 10) + td.cellIndex - 1;
    window.location.href = cellPage(data, parseInt(tr.dataset.f, 10), di);
  });
  document.querySelectorAll('a[href^="#cell="]').forEach(function (a) {
    var m = /^#cell=(.+)@(\d{4}-\d{2}-\d{2})$/.exec(decodeURIComponent(a.getAttribute("href")));
    if (m) { a.href = "/cell/" + encodeURIComponent(m[1]) + "/" + m[2]; }
  });
}

function pollGrid(holder) {
  var live = document.getElementById("live");
  var updated = document.getElementById("updated");
  var seconds = parseFloat(holder.dataset.poll) || 5;
  if (live) { live.parentElement.hidden = false; }
  var symbols = {};
  document.querySelectorAll(".legend .sym").forEach(function (el) {
    symbols[el.className.replace(/.*\bs-/, "")] = el.textContent;
  });
  function apply(data) {
    gridCells(function (td, fi, di) {
      var state = (data.states[data.families[fi]] || [])[di];
      if (state === undefined || td.className === "s-" + state) { return; }
      td.className = "s-" + state;
      td.textContent = symbols[state] || "?";
      td.title = data.families[fi] + " " + data.dates[di] + ": " + state;
    });
    document.querySelectorAll("#totals tbody tr").forEach(function (tr) {
      var counts = data.counts[tr.dataset.family] || {};
      tr.querySelectorAll("td[data-state]").forEach(function (td) {
        td.textContent = (counts[td.dataset.state] || 0).toLocaleString("en");
      });
    });
    if (updated) { updated.textContent = "updated " + new Date().toLocaleTimeString(); }
  }
  function tick() {
    if (live && !live.checked) { return; }
    fetch(holder.dataset.api, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(apply)
      .catch(function (e) { if (updated) { updated.textContent = "update failed (" + e.message + ")"; } });
  }
  window.setInterval(tick, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", function () {
  var data = document.getElementById("status-data");
  if (data) { linkGrid(JSON.parse(data.textContent)); }
  var holder = document.getElementById("grid-live");
  if (holder) { pollGrid(holder); }
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
    });
  });
  var refresh = document.querySelector("[data-refresh]");
  var seconds = refresh ? parseFloat(refresh.dataset.refresh) : 0;
  if (seconds > 0) { window.setTimeout(function () { window.location.reload(); }, seconds * 1000); }
});
