"""The tasking page of an alert: the registrants it covers in tasking order, read from
``GET /api/v1/registry/alerts/{id}/tasking`` with the officer's token (typed in, kept for the tab only). The page
itself holds no data; self-contained, it works offline."""

from __future__ import annotations

import html

from alerts.registry.texts import CATALOGUE
from emergency.i18n import translate

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tasking for __ALERT__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:14px system-ui,sans-serif;margin:1rem;color:#222}table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}#error{color:#b00020}</style>
</head><body>
<h1>Responder tasking for <code>__ALERT__</code></h1>
<p>Registrants the alert covers, most urgent need first, then nearest the alert area's centre. Every view is recorded.</p>
<form id="auth"><label>API token (registry officer) <input id="token" type="password" autocomplete="off" size="40">
</label> <button type="submit">Show</button> <a id="csv" href="#">CSV</a></form>
<p id="error" role="alert"></p>
<table id="list" hidden><thead><tr><th>#</th><th>name</th><th>most urgent need</th><th>needs</th><th>distance (m)</th>
<th>where</th><th>contacts</th><th>caregiver</th><th>check-in</th><th>report</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const URL_ = __URL__;
const tokenInput = document.getElementById("token");
tokenInput.value = sessionStorage.getItem("emergency-token") || "";
async function get(path) {
  const r = await fetch(path, {headers: {Authorization: "Bearer " + tokenInput.value}});
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).detail || r.statusText);
  return r;
}
async function show() {
  sessionStorage.setItem("emergency-token", tokenInput.value);
  document.getElementById("error").textContent = "";
  try {
    const data = await (await get(URL_)).json();
    const body = document.querySelector("#list tbody");
    body.replaceChildren();
    for (const it of data.items) {
      const tr = document.createElement("tr");
      const cg = it.caregiver ? [it.caregiver.name, it.caregiver.phone || "", it.caregiver.relation || ""].join(" ") : "";
      for (const v of [it.rank, it.name, it.top_need, it.needs.join(", "), Math.round(it.distance_m),
                       it.location_label + " (" + it.lat.toFixed(5) + ", " + it.lon.toFixed(5) + ")",
                       it.contacts.map(c => c.contact).join(" "), cg, it.checkin, it.report_id || ""]) {
        const td = document.createElement("td"); td.textContent = String(v); tr.append(td);
      }
      body.append(tr);
    }
    document.getElementById("list").hidden = false;
  } catch (e) { document.getElementById("error").textContent = String(e.message || e); }
}
document.getElementById("auth").addEventListener("submit", e => { e.preventDefault(); show(); });
document.getElementById("csv").addEventListener("click", async e => {
  e.preventDefault();
  try {
    const blob = await (await get(URL_.replace(/tasking$/, "tasking.csv"))).blob();
    const a = document.createElement("a"); a.href = URL.createObjectURL(blob); a.download = "tasking.csv"; a.click();
  } catch (err) { document.getElementById("error").textContent = String(err.message || err); }
});
if (tokenInput.value) show();
</script></body></html>
"""

CHECKIN_PAGE = """<!doctype html>
<html lang="__LANG__"><head><meta charset="utf-8"><title>__TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:20px system-ui,sans-serif;margin:1.5rem;line-height:1.5}button{font-size:1.4rem;padding:1rem 2rem}</style>
</head><body><h1>__TITLE__</h1><p>__TEXT__</p>
<form method="post" action=""><button type="submit">__BUTTON__</button></form></body></html>
"""


def tasking_page(*, alert_id: str, url_json: str) -> str:
    """The page (``alert_id`` escaped here, ``url_json`` a JSON string literal)."""
    return PAGE.replace("__ALERT__", html.escape(alert_id)).replace("__URL__", url_json.replace("</", "<\\/"))


def checkin_page(*, state: str, language: str = "en", by: str = "registrant") -> str:
    """The page a check-in link opens, in ``language``: one big button that sends the answer (POST to the same
    link); a caregiver's link speaks of the person they look after."""
    prefix = "cg_" if by == "caregiver" else ""
    kind = "safe" if state == "safe" else "help"
    return page_of(language=language, title=f"{prefix}{kind}_title", text=f"{prefix}{kind}_text",
                   button=f"{prefix}{kind}_button")


def confirm_page(*, language: str) -> str:
    """The page a caregiver's confirmation link opens, in their language."""
    return page_of(language=language, title="confirm_title", text="confirm_text", button="confirm_button")


def page_of(*, language: str, title: str, text: str, button: str) -> str:
    """A one-button page from three catalogue keys, in ``language`` (every text escaped)."""
    def say(key: str) -> str:
        return html.escape(translate(CATALOGUE, key, language))

    return (CHECKIN_PAGE.replace("__LANG__", html.escape(language)).replace("__TITLE__", say(title))
            .replace("__TEXT__", say(text)).replace("__BUTTON__", say(button)))
