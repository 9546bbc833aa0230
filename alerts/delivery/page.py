"""The delivery page of one alert: a table per channel and the cumulative delivery curve, drawn as inline SVG
from ``GET /api/v1/alerts/{id}/deliveries``. Self-contained (no CDN, no external file): it works offline."""

from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Deliveries of __ALERT__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}#error{color:#b00020}svg{border:1px solid #ddd;background:#fff}
.legend span{display:inline-block;margin-right:1rem}.swatch{display:inline-block;width:1rem;height:.3rem;
vertical-align:middle;margin-right:.3rem}
</style></head><body>
<h1>Deliveries of <code>__ALERT__</code></h1>
<form id="auth"><label>API token (coordinator, admin, or the alert's originator)
<input id="token" type="password" autocomplete="off" size="40"></label> <button type="submit">Show</button></form>
<p id="error" role="alert"></p>
<div id="report" hidden>
<p id="summary"></p>
<table id="counts"><thead><tr><th>channel</th><th>targeted</th><th>queued</th><th>sent</th><th>delivered</th>
<th>failed</th><th>acknowledged</th><th>50 % (s)</th><th>90 % (s)</th><th>99 % (s)</th></tr></thead><tbody></tbody></table>
<svg id="curve" width="720" height="360" viewBox="0 0 720 360" role="img" aria-label="cumulative deliveries per channel"></svg>
<div class="legend" id="legend"></div>
</div>
<script>
"use strict";
const REPORT_URL = __URL__;
const COLORS = ["#1565c0", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#4e342e"];
const NS = "http://www.w3.org/2000/svg";
const tokenInput = document.getElementById("token");
tokenInput.value = sessionStorage.getItem("emergency-token") || "";
function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function fmt(v) { return v === null || v === undefined ? "—" : String(v); }
function draw(report) {
  const tbody = document.querySelector("#counts tbody");
  tbody.replaceChildren();
  const channels = Object.entries(report.channels);
  for (const [name, c] of channels) {
    const tr = document.createElement("tr");
    tr.dataset.channel = name;
    for (const v of [name, c.targeted, c.queued, c.sent, c.delivered, c.failed, c.acknowledged,
                     c.time_to_reached_s.p50, c.time_to_reached_s.p90, c.time_to_reached_s.p99]) {
      const td = document.createElement("td"); td.textContent = fmt(v); tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
  document.getElementById("summary").textContent =
    `Issued ${report.issued_at}; ${report.versions.length} version(s); report of ${report.generated_at}.`;
  const svg = document.getElementById("curve");
  svg.replaceChildren();
  const W = 720, H = 360, L = 60, R = 20, T = 20, B = 40;
  const maxT = Math.max(1e-3, ...channels.flatMap(([, c]) => c.curve.map(p => p[0])));
  const maxN = Math.max(1, ...channels.map(([, c]) => c.targeted));
  const x = t => L + (W - L - R) * t / maxT, y = n => H - B - (H - T - B) * n / maxN;
  svg.appendChild(el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#444"}));
  svg.appendChild(el("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#444"}));
  svg.appendChild(el("text", {x: (W + L) / 2, y: H - 8, "text-anchor": "middle"}, `seconds since issue (max ${maxT.toFixed(2)})`));
  svg.appendChild(el("text", {x: L - 6, y: T + 4, "text-anchor": "end"}, String(maxN)));
  svg.appendChild(el("text", {x: L - 6, y: H - B, "text-anchor": "end"}, "0"));
  const legend = document.getElementById("legend");
  legend.replaceChildren();
  channels.forEach(([name, c], i) => {
    const color = COLORS[i % COLORS.length];
    const points = c.curve.map(([t, n]) => `${x(t).toFixed(1)},${y(n).toFixed(1)}`).join(" ");
    const line = el("polyline", {points, fill: "none", stroke: color, "stroke-width": 2});
    line.dataset.channel = name;
    svg.appendChild(line);
    const item = document.createElement("span");
    item.innerHTML = `<span class="swatch" style="background:${color}"></span>`;
    item.append(`${name}: ${c.sent + 0} of ${c.targeted} reached`);
    legend.appendChild(item);
  });
  document.getElementById("report").hidden = false;
}
async function load() {
  const token = tokenInput.value.trim();
  const error = document.getElementById("error");
  error.textContent = "";
  if (!token) { error.textContent = "token: give an API token to read the report"; return; }
  sessionStorage.setItem("emergency-token", token);
  const r = await fetch(REPORT_URL, {headers: {Authorization: `Bearer ${token}`}});
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { error.textContent = `${r.status}: ${body.detail || r.statusText}`; return; }
  draw(body);
}
document.getElementById("auth").addEventListener("submit", e => { e.preventDefault(); load(); });
if (tokenInput.value) load();
</script></body></html>
"""


def delivery_page(*, alert_id: str, report_url: str) -> str:
    """The page's HTML; ``alert_id`` already HTML-escaped, ``report_url`` a JSON string literal."""
    return PAGE.replace("__ALERT__", alert_id).replace("__URL__", report_url.replace("<", "\\u003c"))
