// goresque dashboard: confirmation of destructive forms and live updates by polling
// /api/overview. Vanilla JS, no dependencies; every value is written with textContent,
// never as HTML.
"use strict";

document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) ev.preventDefault();
});

(function () {
  var poll = parseInt(document.body.getAttribute("data-poll"), 10) || 2000;
  var badge = document.getElementById("live");
  var rate = [], latency = [], last = null;

  function get(obj, path) {
    if (path === "workers.total") {
      var w = obj.workers, n = 0;
      for (var k in w) n += w[k];
      return n;
    }
    if (path === "rate" || path === "latency") return null;
    return path.split(".").reduce(function (o, k) { return o == null ? o : o[k]; }, obj);
  }

  function age(sec) {
    if (sec < 0) return "\u2013";
    sec = Math.floor(sec);
    if (sec < 60) return sec + "s";
    if (sec < 3600) return Math.floor(sec / 60) + "m" + String(sec % 60).padStart(2, "0") + "s";
    if (sec < 172800) return Math.floor(sec / 3600) + "h" + String(Math.floor(sec / 60) % 60).padStart(2, "0") + "m";
    return Math.floor(sec / 86400) + "d" + String(Math.floor(sec / 3600) % 24).padStart(2, "0") + "h";
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    tr.appendChild(td);
  }

  function queues(list) {
    document.querySelectorAll("[data-live-queues]").forEach(function (tbody) {
      var rows = document.createDocumentFragment();
      list.forEach(function (q) {
        var tr = document.createElement("tr"), a = document.createElement("a");
        a.href = "/queues/" + encodeURIComponent(q.name);
        a.textContent = q.name;
        cell(tr, a);
        cell(tr, String(q.size), "num");
        cell(tr, age(q.oldest_age_seconds), "num");
        rows.appendChild(tr);
      });
      if (!list.length) {
        var tr = document.createElement("tr");
        tr.className = "empty";
        var td = document.createElement("td");
        td.colSpan = 3;
        td.textContent = "no queues";
        tr.appendChild(td);
        rows.appendChild(tr);
      }
      tbody.replaceChildren(rows);
    });
  }

  function draw(id, points, color) {
    var c = document.getElementById(id);
    if (!c || !c.getContext) return;
    var w = c.width = c.clientWidth || c.width, h = c.height, g = c.getContext("2d");
    g.clearRect(0, 0, w, h);
    if (points.length < 2) return;
    var top = Math.max.apply(null, points.concat([1]));
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    points.forEach(function (v, i) {
      var x = w * i / 59, y = h - 4 - (h - 8) * v / top;
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke();
    g.fillStyle = "#666";
    g.font = "11px sans-serif";
    g.fillText(top.toFixed(top < 10 ? 1 : 0), 4, 12);
  }

  function push(arr, v) { arr.push(v); if (arr.length > 60) arr.shift(); }

  function update(d) {
    if (last && d.time > last.time) {
      push(rate, Math.max(0, (d.processed + d.failed - last.processed - last.failed) / (d.time - last.time)));
    }
    var oldest = d.queues.reduce(function (m, q) { return Math.max(m, q.oldest_age_seconds); }, 0);
    push(latency, oldest);
    last = d;
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var key = el.getAttribute("data-live"), v = get(d, key);
      if (key === "rate" && rate.length) v = rate[rate.length - 1].toFixed(1);
      if (key === "latency") v = age(oldest);
      if (v != null && el.textContent !== String(v)) el.textContent = String(v);
    });
    queues(d.queues);
    draw("chart-rate", rate, "#2a7ab0");
    draw("chart-latency", latency, "#b0602a");
  }

  function tick() {
    fetch("/api/overview", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (d) { update(d); if (badge) { badge.className = "tag ok"; badge.textContent = "live"; } })
      .catch(function () { if (badge) { badge.className = "tag bad"; badge.textContent = "offline"; } })
      .finally(function () { setTimeout(tick, poll); });
  }
  tick();
})();
