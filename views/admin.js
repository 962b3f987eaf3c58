// Gateway admin dashboard: polls the stats document every second and
// updates the page in place. Hand-written, no dependencies.
(function () {
  "use strict";

  var POLL_MS = 1000;
  var HISTORY_SECONDS = 300; // sparklines span up to five minutes
  var MIN_SPAN = 60;

  // An access_token in the page's URL (auth for browsers, which cannot set
  // an Authorization header on a link) is passed along on every request.
  var token = new URLSearchParams(location.search).get("access_token");
  var statsURL = document.body.dataset.stats + (token ? "?access_token=" + encodeURIComponent(token) : "");

  var history = new Map(); // "service url" -> Map(second start in ms -> [requests, p95 ms])
  var layout = domLayout(); // services and upstreams the DOM was built for

  function $(root, sel) { return root.querySelector(sel); }
  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }
  function field(row, name) { return $(row, '[data-field="' + name + '"]'); }

  function fmtInt(n) { return Number(n || 0).toLocaleString("en-US"); }
  function fmtRate(v) { return (v || 0).toFixed(1); }
  function fmtMs(v) {
    if (!v) return "–";
    return v < 10 ? v.toFixed(2) : v.toFixed(0);
  }
  function fmtDuration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    if (h) return h + "h" + m + "m" + s + "s";
    if (m) return m + "m" + s + "s";
    return s + "s";
  }
  function ago(from, to) {
    var s = (to - from) / 1000;
    if (s < 60) return Math.max(0, Math.round(s)) + "s ago";
    if (s < 3600) return Math.round(s / 60) + "m ago";
    if (s < 86400) return Math.round(s / 3600) + "h ago";
    return Math.round(s / 86400) + "d ago";
  }

  function keyOf(u) { return u.service + " " + u.url; }

  // rebuild recreates the services and rows from the page's own templates
  // when the set of upstreams changed (first load after a reload of
  // UPSTREAMS, for instance).
  function rebuild(stats) {
    var box = document.getElementById("services");
    var svcTpl = document.getElementById("service-template").content;
    var rowTpl = document.getElementById("row-template").content;
    box.textContent = "";
    (stats.services || []).forEach(function (svc) {
      var sec = $(svcTpl, "section").cloneNode(true);
      sec.dataset.service = svc.name;
      setText(field(sec, "service"), svc.name);
      var n = svc.upstreams.length;
      setText(field(sec, "count"), n + " upstream" + (n === 1 ? "" : "s"));
      var body = $(sec, "tbody");
      svc.upstreams.forEach(function (u) {
        var row = $(rowTpl, "tr").cloneNode(true);
        row.dataset.key = keyOf(u);
        body.appendChild(row);
      });
      box.appendChild(sec);
    });
  }

  // domLayout describes the rows the server rendered, in layoutOf's terms.
  function domLayout() {
    return Array.prototype.map.call(document.querySelectorAll("#services section.service"), function (sec) {
      return sec.dataset.service + "=" + Array.prototype.map.call(sec.querySelectorAll("tr.upstream"), function (row) {
        return field(row, "url").textContent;
      }).join(",");
    }).join("|");
  }

  function layoutOf(stats) {
    return (stats.services || []).map(function (s) {
      return s.name + "=" + s.upstreams.map(function (u) { return u.url; }).join(",");
    }).join("|");
  }

  function remember(u) {
    var k = keyOf(u), h = history.get(k);
    if (!h) { h = new Map(); history.set(k, h); }
    var start = Date.parse(u.history.start);
    u.history.requests.forEach(function (n, i) { h.set(start + i * 1000, [n, u.history.p95Ms[i]]); });
    var last = start + (u.history.requests.length - 1) * 1000;
    h.forEach(function (_, t) { if (t <= last - HISTORY_SECONDS * 1000) h.delete(t); });
    var first = Infinity;
    h.forEach(function (_, t) { if (t < first) first = t; });
    var span = Math.min(HISTORY_SECONDS, Math.max(MIN_SPAN, (last - first) / 1000 + 1));
    var rps = [], p95 = [];
    for (var t = last - (span - 1) * 1000; t <= last; t += 1000) {
      var v = h.get(t);
      rps.push(v ? v[0] : 0);
      p95.push(v && v[0] > 0 ? v[1] : null);
    }
    return { rps: rps, p95: p95 };
  }

  // spark draws values (null for a gap) as a line over a filled area.
  // Latency is drawn on a log scale, so that a few slow spikes do not flatten
  // the usual milliseconds onto the baseline.
  function spark(svg, values, unit) {
    var W = 120, H = 30, n = values.length, max = 0;
    var scale = unit === "ms" ? function (v) { return Math.log1p(v); } : function (v) { return v; };
    values.forEach(function (v) { if (v !== null && v > max) max = v; });
    var line = "", area = "", run = [];
    function flush() {
      if (!run.length) return;
      if (run.length === 1) run.push([run[0][0] + 0.5, run[0][1]]);
      line += "M" + run.map(function (p) { return p[0].toFixed(1) + " " + p[1].toFixed(1); }).join("L");
      area += "M" + run[0][0].toFixed(1) + " " + H + "L" +
        run.map(function (p) { return p[0].toFixed(1) + " " + p[1].toFixed(1); }).join("L") +
        "L" + run[run.length - 1][0].toFixed(1) + " " + H + "Z";
      run = [];
    }
    values.forEach(function (v, i) {
      if (v === null) { flush(); return; }
      var x = n > 1 ? i * W / (n - 1) : W;
      var y = max > 0 ? H - 2 - (scale(v) / scale(max)) * (H - 4) : H - 2;
      run.push([x, y]);
    });
    flush();
    svg.innerHTML = '<path class="area" d="' + area + '"/><path class="line" d="' + line + '"/>' +
      "<title>last " + fmtDuration(n) + ", max " + (unit === "ms" ? fmtMs(max) + " ms" : fmtRate(max) + " req/s") + "</title>";
  }

  function updateRow(row, u, takenAt) {
    if (row.dataset.state !== u.state) {
      row.dataset.state = u.state;
      row.classList.remove("flash");
      void row.offsetWidth; // restart the animation
      row.classList.add("flash");
    }
    setText(field(row, "url"), u.url);
    setText(field(row, "state"), u.state);
    var reason = "";
    if (u.state === "open" && u.openUntil) {
      reason = "probe in " + fmtDuration((Date.parse(u.openUntil) - takenAt) / 1000) + " · " + (u.lastTripReason || "");
    } else if (u.state === "half-open") {
      reason = "probing · " + (u.lastTripReason || "");
    } else if (u.trips) {
      reason = "tripped " + u.trips + "× · last: " + (u.lastTripReason || "");
    }
    var r = field(row, "reason");
    setText(r, reason);
    r.title = u.lastTripReason || "";
    setText(field(row, "inflight"), fmtInt(u.inflight));
    setText(field(row, "requests"), fmtInt(u.requests));
    setText(field(row, "failures"), fmtInt(u.failures));
    setText(field(row, "retries"), fmtInt(u.retries));
    setText(field(row, "rps"), fmtRate(u.rps));
    setText(field(row, "latency"), fmtMs(u.p50Ms) + " / " + fmtMs(u.p95Ms) + " / " + fmtMs(u.p99Ms));
    setText(field(row, "ewma"), fmtMs(u.ewmaMs));
    var err = field(row, "lastError");
    setText(err, u.lastError || "");
    err.title = u.lastError || "";
    setText(field(row, "lastErrorAt"), u.lastErrorAt ? ago(Date.parse(u.lastErrorAt), takenAt) : "");
    var series = remember(u);
    spark($(row, '[data-spark="rps"]'), series.rps, "rps");
    spark($(row, '[data-spark="p95"]'), series.p95, "ms");
  }

  function render(stats) {
    var l = layoutOf(stats);
    if (l !== layout) { rebuild(stats); layout = l; }
    var takenAt = Date.parse(stats.takenAt);
    var t = stats.totals;
    ["requests", "errors", "inflight", "openBreakers", "upstreams", "activeWebSocket", "activeSse"].forEach(function (k) {
      setText($(document, '[data-total="' + k + '"]'), fmtInt(t[k]));
    });
    setText($(document, '[data-total="rps"]'), fmtRate(t.rps));
    setText($(document, '[data-total="uptime"]'), fmtDuration(stats.uptimeSeconds));
    document.getElementById("breakers-card").classList.toggle("alert", t.openBreakers > 0);
    var rows = {};
    document.querySelectorAll("tr.upstream").forEach(function (row) { rows[row.dataset.key] = row; });
    (stats.services || []).forEach(function (svc) {
      svc.upstreams.forEach(function (u) {
        var row = rows[keyOf(u)];
        if (row) updateRow(row, u, takenAt);
      });
    });
    setLive("ok", "live · " + new Date(takenAt).toLocaleTimeString());
  }

  function setLive(state, text) {
    var el = document.getElementById("live");
    el.dataset.live = state;
    setText(document.getElementById("live-text"), text);
  }

  function poll() {
    var started = Date.now();
    fetch(statsURL, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(render)
      .catch(function (e) { setLive("error", "disconnected · " + e.message); })
      .then(function () { setTimeout(poll, Math.max(0, POLL_MS - (Date.now() - started))); });
  }

  poll();
})();
