/* A report's tracking page: its public status (GET /api/v1/reports/{id}/status) and the coordinators' public replies,
 * refreshed every 30 s; and the form that confirms the reporter's contact with the code of its confirmation message
 * (POST /api/v1/reports/{id}/contact/confirm), built once so a refresh keeps what is typed. Nothing private is shown. */
(function () {
  "use strict";

  var shared = window.citizenPage, CONFIG = shared.config, t = shared.t, el = shared.el;
  var REFRESH_MS = 30000;
  var last = null;

  function render() {
    var app = document.getElementById("app");
    app.textContent = "";
    document.documentElement.lang = shared.lang;
    document.title = t("track_title");
    app.appendChild(el("h1", { text: t("track_title") }));
    if (last === "missing") {
      app.appendChild(el("p", { id: "status", "class": "error", text: t("not_found") }));
    } else if (last) {
      app.appendChild(el("p", { id: "status", "class": "status", "data-status": last.status,
                                text: t("status_" + last.status) }));
      if (last.reason) app.appendChild(el("p", { id: "reason", text: t("status_reason", { reason: last.reason }) }));
      app.appendChild(el("p", { "class": "updated",
                                text: t("status_updated", { when: new Date(last.updated_at).toLocaleString(shared.lang) }) }));
      app.appendChild(el("h2", { text: t("replies") }));
      var replies = last.replies || [];
      app.appendChild(replies.length ? el("ul", { id: "replies", "class": "replies" }, replies.map(function (r) {
        return el("li", {}, [el("time", { datetime: r.at, text: new Date(r.at).toLocaleString(shared.lang) }),
                             el("p", { text: r.text })]);
      })) : el("p", { "class": "hint", text: t("no_replies") }));
    }
    app.appendChild(el("p", {}, [el("a", { href: "/report", text: t("report_another") })]));
    app.setAttribute("aria-busy", "false");
    document.body.setAttribute("data-ready", "true");
  }

  function load() {
    fetch("/api/v1/reports/" + encodeURIComponent(CONFIG.report_id) + "/status", { cache: "no-store" })
      .then(function (r) {
        if (r.status === 404) { last = "missing"; return null; }
        return r.ok ? r.json() : null;
      }).then(function (answer) {
        if (answer) last = answer;
        render();
      }).catch(function () { render(); })
      .then(function () { setTimeout(load, REFRESH_MS); });
  }

  function confirmForm() {
    var result = el("p", { id: "confirm-result", role: "status" });
    var code = el("input", { id: "confirm-code", name: "code", inputmode: "numeric", autocomplete: "one-time-code",
                             maxlength: "16", required: "required" });
    var form = el("form", { id: "confirm" }, [
      el("h2", { text: t("confirm_title") }), el("p", { "class": "hint", text: t("confirm_hint") }),
      el("label", { "for": "confirm-code", text: t("confirm_code") }), code,
      el("button", { type: "submit", text: t("confirm_button") }), result]);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      fetch("/api/v1/reports/" + encodeURIComponent(CONFIG.report_id) + "/contact/confirm", {
        method: "POST", headers: { "Content-Type": "application/json", "Accept-Language": shared.lang },
        body: JSON.stringify({ code: code.value })
      }).then(function (r) {
        return r.json().then(function (answer) { return { ok: r.ok, answer: answer }; });
      }).then(function (got) {
        result.setAttribute("data-state", got.ok ? "confirmed" : "refused");
        result.textContent = got.ok ? t("confirm_done") : String(got.answer.detail || "");
      }).catch(function () { result.setAttribute("data-state", "failed"); result.textContent = t("offline"); });
    });
    document.body.insertBefore(form, document.getElementById("app").nextSibling);
  }

  render();
  confirmForm();
  load();
  window.trackingPage = { reload: load };
})();
