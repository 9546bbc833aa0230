"""The facilities' pages: the notification dashboard (read from ``GET /api/v1/facilities/notifications`` with a
token typed in; the page holds no data) and the acknowledgement page a message links to (one button that POSTs
the delivery's acknowledgement). Self-contained: they work offline."""

from __future__ import annotations

import html

DASHBOARD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Critical facility notifications</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:14px system-ui,sans-serif;margin:1rem;color:#222}table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}#error{color:#b00020}
.acknowledged{background:#e8f5e9}.unacknowledged{background:#ffebee}</style></head><body>
<h1>Critical facility notifications</h1>
<form id="auth"><label>API token (admin, alert originator or coordinator)
<input id="token" type="password" autocomplete="off" size="40"></label> <button type="submit">Show</button></form>
<p id="error" role="alert"></p>
<table id="list" hidden><thead><tr><th>facility</th><th>cause</th><th>state</th><th>told (who, when, how)</th>
<th>acknowledged by</th><th>acknowledged at</th><th>next escalation</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const tokenInput = document.getElementById("token");
tokenInput.value = sessionStorage.getItem("emergency-token") || "";
async function show() {
  sessionStorage.setItem("emergency-token", tokenInput.value);
  document.getElementById("error").textContent = "";
  try {
    const r = await fetch("/api/v1/facilities/notifications", {headers: {Authorization: "Bearer " + tokenInput.value}});
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).detail || r.statusText);
    const data = await r.json();
    const body = document.querySelector("#list tbody");
    body.replaceChildren();
    for (const it of data.items) {
      const tr = document.createElement("tr");
      tr.className = it.state;
      const told = it.told.map(t => t.contact_name + " " + t.at + " " +
        (t.skipped ? "passed over: " + t.skipped : t.deliveries.map(d => d.channel + ":" + d.state).join(",")) +
        (t.opted_out.length ? " [opted out: " + t.opted_out.join(", ") + "]" : "")).join("; ");
      for (const v of [it.facility_name + " (" + (it.facility_type || "") + ")", it.cause + " " + it.headline, it.state,
                       told, it.acknowledged_by || "", it.acknowledged_at || "", it.next_escalation_at || ""]) {
        const td = document.createElement("td"); td.textContent = String(v); tr.append(td);
      }
      body.append(tr);
    }
    document.getElementById("list").hidden = false;
  } catch (e) { document.getElementById("error").textContent = String(e.message || e); }
}
document.getElementById("auth").addEventListener("submit", e => { e.preventDefault(); show(); });
if (tokenInput.value) show();
</script></body></html>
"""

ACK = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acknowledge the notification</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:18px system-ui,sans-serif;margin:1.5rem}button{font-size:1.2rem;padding:.8rem 1.6rem}</style>
</head><body><h1>Acknowledge the notification</h1>
<p>Tap the button to confirm you received it; the next contact of the facility will then not be called.</p>
<form method="post" action="__ACTION__"><button type="submit">I acknowledge</button></form></body></html>
"""


def ack_page(*, delivery_id: str) -> str:
    """The acknowledgement page of one delivery (the form posts to the delivery's ack route)."""
    return ACK.replace("__ACTION__", html.escape(f"/api/v1/deliveries/{delivery_id}/ack", quote=True))
