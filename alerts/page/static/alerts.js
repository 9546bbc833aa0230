/*
 * The public alerts page (GET /alerts). Plain ES2017, no build step, every asset served by this system.
 * Settings come from <script id="alerts-config" type="application/json"> (alerts/page/service.py page_config):
 *   lang, supported, strings {lang: {key: text}}  the page's language (negotiated by the server), the catalogue
 *   center [lat, lon], zoom, roads_url             the offline base map (the region's named roads, GeoJSON)
 *   ws_path            WS /ws/alerts?lat=&lon=: the active alerts covering the point at once, then every new
 *                      version (Update, Cancel) of an alert covering it; the server decides coverage (geodesic)
 *   geocode_path       GET ?q= -> {query, candidates: [{label, precision, lat, lon}]} (the region geocoder)
 *   thread_path        GET /api/v1/alerts/{id}/thread -> {versions: [...]} (the alert's Alert/Update/Cancel)
 *   cop_ws_path        WS /ws/cop: the picture's changes; only for an area drawn on the map (new alerts meeting
 *                      it are notified; the area test is planar in degrees, the server's delivery is exact)
 *   vapid_path, subscriptions_path, sw_url, sw_scope, tiers
 * GeoJSON is WGS 84 [lon, lat] (RFC 7946); Leaflet takes [lat, lon].
 * A cancelled alert is never listed as active: it moves to "Cancelled — no longer active" (greyed, struck
 * through) until the server drops it; an expired one leaves the page at its expiry.
 * For tests: window.alertsPage exposes the state, ingest(feature), setLocation(lat, lon, label) and lang().
 * User-supplied and alert text only ever reaches the DOM through textContent.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("alerts-config").textContent);
  var STORED_LANG = "alerts-page-lang";
  var LANGUAGE_NAMES = { en: "English", es: "Español", ko: "한국어" };
  var NOTIFIED = "alerts-page-notified";
  var TIER_COLOURS = { presidential: "#6a1b9a", imminent_threat_extreme: "#c62828",
    imminent_threat_severe: "#ef6c00", child_abduction: "#ad1457", public_safety: "#1565c0", test: "#757575" };

  var state = {
    lang: chooseLanguage(),
    location: null,          // {lat, lon, label}
    alerts: new Map(),       // id -> latest feature received (by received_at)
    ws: null, wsState: "idle", retry: 0,
    drawing: false, corners: [],
    notify: false,
    subscription: null,      // the last 201 answer (token shown once)
  };

  function chooseLanguage() {
    var stored = null;
    try { stored = localStorage.getItem(STORED_LANG); } catch (e) { stored = null; }
    if (stored && config.supported.indexOf(stored) >= 0) return stored;
    return config.lang;
  }

  function t(key, values) {
    var text = (config.strings[state.lang] || {})[key];
    if (text === undefined) text = config.strings.en[key];
    if (text === undefined) text = key;
    if (values) {
      Object.keys(values).forEach(function (name) { text = text.split("{" + name + "}").join(String(values[name])); });
    }
    return text;
  }

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function formatTime(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return d.toLocaleString(state.lang, { dateStyle: "medium", timeStyle: "short" });
  }

  /* ---------- language ---------- */

  function applyStrings() {
    document.documentElement.lang = state.lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach(function (node) { node.textContent = t(node.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach(function (node) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    });
    buildTiers();
    renderDrawStatus();
    renderAlerts();
    renderStatus();
  }

  function buildLanguageSwitch() {
    var select = $("ap-lang");
    var names = LANGUAGE_NAMES;
    config.supported.forEach(function (code) {
      var option = el("option", null, names[code] || code);
      option.value = code;
      select.appendChild(option);
    });
    select.value = state.lang;
    select.addEventListener("change", function () {
      state.lang = select.value;
      try { localStorage.setItem(STORED_LANG, state.lang); } catch (e) { /* private mode */ }
      applyStrings();
    });
  }

  /* The alert's text in the reader's language: properties.translations {"es-US": {headline, ...}} when a tag
     has the reader's primary subtag, else the first language (the top-level fields). */
  function localized(p) {
    var translations = p.translations || {};
    var tags = Object.keys(translations);
    for (var i = 0; i < tags.length; i++) {
      if (tags[i].split("-")[0].toLowerCase() === state.lang && translations[tags[i]]) {
        var tr = translations[tags[i]];
        return { headline: tr.headline || p.headline, description: tr.description || p.description,
          instruction: tr.instruction || p.instruction, language: tags[i], translated: true };
      }
    }
    return { headline: p.headline, description: p.description, instruction: p.instruction,
      language: p.language || "en", translated: false };
  }

  /* ---------- map ---------- */

  var map = L.map("ap-map", { zoomControl: true }).setView(config.center, config.zoom);
  var alertLayer = L.layerGroup().addTo(map);
  var drawLayer = L.layerGroup().addTo(map);
  var here = null;
  if (config.roads_url) {
    fetch(config.roads_url).then(function (r) { return r.ok ? r.json() : null; }).then(function (roads) {
      if (!roads) return;
      L.geoJSON(roads, { interactive: false, style: { color: "#9e9e9e", weight: 1.2, opacity: 0.8 } })
        .addTo(map).bringToBack();
    }).catch(function () { /* offline and not cached: the page works without streets */ });
  }

  function drawAlerts() {
    alertLayer.clearLayers();
    state.alerts.forEach(function (feature) {
      var p = feature.properties || {};
      if (!feature.geometry) return;
      var cancelled = p.state === "cancelled";
      L.geoJSON(feature.geometry, { style: cancelled
        ? { color: "#616161", weight: 2, dashArray: "6 5", fill: false }
        : { color: TIER_COLOURS[p.tier] || "#c62828", weight: 2, fillOpacity: 0.15 } })
        .bindPopup(function () { return alertItem(feature); })
        .addTo(alertLayer);
    });
  }

  function showHere() {
    if (!state.location) return;
    var ll = [state.location.lat, state.location.lon];
    if (here) here.setLatLng(ll); else here = L.circleMarker(ll, { radius: 8, color: "#0d47a1", fillOpacity: 0.9 })
      .addTo(map);
    map.setView(ll, Math.max(map.getZoom(), 14));
  }

  /* ---------- where am I ---------- */

  function setLocation(lat, lon, label) {
    state.location = { lat: lat, lon: lon, label: label || null };
    state.alerts.clear();
    $("ap-suggestions").replaceChildren();
    showHere();
    connect();
    renderAlerts();
  }

  $("ap-locate").addEventListener("click", function () {
    var status = $("ap-where-status");
    if (!navigator.geolocation) { status.textContent = t("location_refused", { reason: "Geolocation API" }); return; }
    status.textContent = t("locating");
    navigator.geolocation.getCurrentPosition(function (pos) {
      status.textContent = "";
      setLocation(pos.coords.latitude, pos.coords.longitude, null);
    }, function (err) {
      status.textContent = t("location_refused", { reason: err.message || err.code });
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  $("ap-place-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var q = $("ap-place").value.trim();
    var status = $("ap-where-status");
    var list = $("ap-suggestions");
    list.replaceChildren();
    if (!q) return;
    fetch(config.geocode_path + "?q=" + encodeURIComponent(q)).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (answer) {
      if (!answer.ok) { status.textContent = t("no_place") + ": " + (answer.body.detail || ""); return; }
      if (!answer.body.candidates.length) { status.textContent = t("no_place") + ": " + q; return; }
      status.textContent = "";
      answer.body.candidates.forEach(function (m) {
        var item = el("li");
        var button = el("button", "ap-suggestion", m.label);
        button.type = "button";
        button.addEventListener("click", function () { setLocation(m.lat, m.lon, m.label); });
        item.appendChild(button);
        list.appendChild(item);
      });
    }).catch(function (err) { status.textContent = t("no_place") + ": " + err.message; });
  });

  /* ---------- the live list (WS /ws/alerts) ---------- */

  function socketUrl() {
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + location.host + config.ws_path + "?lat=" + state.location.lat + "&lon=" + state.location.lon;
  }

  function connect() {
    if (state.ws) { state.ws.onclose = null; state.ws.close(); }
    state.wsState = "connecting";
    renderStatus();
    var ws = new WebSocket(socketUrl());
    state.ws = ws;
    ws.onopen = function () { state.wsState = "live"; state.retry = 0; renderStatus(); };
    ws.onmessage = function (msg) {
      var data = null;
      try { data = JSON.parse(msg.data); } catch (e) { return; }
      if (data && data.type === "alert" && data.alert) ingest(data.alert);
    };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      state.wsState = "offline";
      renderStatus();
      var wait = Math.min(30000, 1000 * Math.pow(2, state.retry++));
      setTimeout(function () { if (state.ws === ws && state.location) connect(); }, wait);
    };
  }

  /* One alert version from the socket (or a test): kept when newer than the version held. */
  function ingest(feature) {
    var id = feature.id || (feature.properties || {}).id;
    var held = state.alerts.get(id);
    var p = feature.properties || {};
    if (held && String(held.properties.received_at) >= String(p.received_at)) return;
    state.alerts.set(id, feature);
    notifyOf(feature);
    renderAlerts();
  }

  function isExpired(p) {
    var end = p.expires ? new Date(p.expires).getTime() : NaN;
    return !isNaN(end) && end <= Date.now();
  }

  function sortedNewestFirst(features) {
    return features.sort(function (a, b) {
      var ta = a.properties.sent || a.properties.received_at, tb = b.properties.sent || b.properties.received_at;
      return String(tb).localeCompare(String(ta));
    });
  }

  function renderAlerts() {
    var active = [], cancelled = [];
    state.alerts.forEach(function (feature, id) {
      var p = feature.properties || {};
      if (isExpired(p)) { state.alerts.delete(id); return; }
      (p.state === "cancelled" ? cancelled : active).push(feature);
    });
    $("ap-around").textContent = state.location
      ? t("around", { place: state.location.label || t("my_location") }) : "";
    $("ap-empty").textContent = !state.location ? t("choose_place") : active.length ? "" : t("no_alerts");
    fill("ap-active", "ap-active-h", sortedNewestFirst(active), "active");
    fill("ap-cancelled", "ap-cancelled-h", sortedNewestFirst(cancelled), "cancelled");
    drawAlerts();
  }

  function fill(listId, headId, features, key) {
    var list = $(listId), head = $(headId);
    list.replaceChildren();
    features.forEach(function (feature) { var li = el("li"); li.appendChild(alertItem(feature)); list.appendChild(li); });
    head.hidden = features.length === 0;
    head.textContent = t(key, { count: features.length });
  }

  function alertItem(feature) {
    var p = feature.properties || {};
    var text = localized(p);
    var cancelled = p.state === "cancelled";
    var box = el("article", "ap-alert" + (cancelled ? " ap-cancelled" : ""));
    box.dataset.alertId = feature.id;
    box.style.borderLeftColor = cancelled ? "" : (TIER_COLOURS[p.tier] || "");
    box.appendChild(el("div", "ap-tier", t("tier_" + p.tier)));
    var h = el("h4", "ap-headline", text.headline || p.event || feature.id);
    if (text.translated) h.lang = text.language;
    box.appendChild(h);
    if (cancelled) box.appendChild(el("p", "ap-cancel-note", t("cancelled_at", { time: formatTime(p.cancelled_at) })));
    if (!text.translated && state.lang !== "en" && text.headline) {
      var primary = String(text.language).split("-")[0];
      box.appendChild(el("p", "ap-note", t("shown_in", { language: LANGUAGE_NAMES[primary] || text.language })));
    }
    if (text.description) box.appendChild(el("p", "ap-description", text.description));
    if (text.instruction) {
      box.appendChild(el("p", "ap-instruction-h", t("instructions")));
      box.appendChild(el("p", "ap-instruction", text.instruction));
    }
    var dl = el("dl");
    [["severity", capValue(p.severity)], ["urgency", capValue(p.urgency)], ["certainty", capValue(p.certainty)],
      ["event", p.event],
      ["area", p.area_desc], ["effective", formatTime(p.sent)], ["expires", formatTime(p.expires)]]
      .forEach(function (row) {
        if (!row[1]) return;
        var dt = el("dt", null, t(row[0]));
        var dd = el("dd", "ap-" + row[0], row[1]);
        dl.appendChild(dt);
        dl.appendChild(dd);
      });
    box.appendChild(dl);
    var cap = el("a", "ap-cap", t("cap"));
    cap.href = p.cap_url || ("/api/v1/alerts/" + encodeURIComponent(feature.id) + ".xml");
    box.appendChild(cap);
    var updates = el("button", "ap-updates", t("updates"));
    updates.type = "button";
    var thread = el("ol", "ap-thread");
    updates.addEventListener("click", function () { loadThread(feature.id, thread); });
    box.appendChild(document.createTextNode(" "));
    box.appendChild(updates);
    box.appendChild(thread);
    return box;
  }

  /* a CAP severity, urgency or certainty value in the reader's language (the value itself when unknown) */
  function capValue(value) {
    if (!value) return value;
    var key = "cap_" + value;
    return (config.strings.en[key] !== undefined) ? t(key) : value;
  }

  function loadThread(id, list) {
    fetch(config.thread_path.replace("{id}", encodeURIComponent(id))).then(function (r) {
      return r.ok ? r.json() : Promise.reject(new Error(String(r.status)));
    }).then(function (thread) {
      list.replaceChildren();
      thread.versions.slice().reverse().forEach(function (v) {
        list.appendChild(el("li", "ap-version ap-version-" + String(v.msg_type).toLowerCase(),
          t("msg_" + v.msg_type) + " — " + formatTime(v.sent) + (v.headline ? ": " + v.headline : "")));
      });
      if (thread.versions.length <= 1) list.appendChild(el("li", "ap-note", t("no_updates")));
    }).catch(function (err) { list.replaceChildren(el("li", "ap-error", err.message)); });
  }

  function renderStatus() {
    var key = { live: "live", connecting: "connecting", offline: "offline" }[state.wsState];
    $("ap-status").textContent = key ? t(key) : "";
    $("ap-status").dataset.state = state.wsState;
  }

  setInterval(renderAlerts, 30000); // an alert leaves the list at its expiry (the local clock; nothing is fetched)

  /* ---------- notifications while the page is open ---------- */

  function notified() {
    try { return JSON.parse(sessionStorage.getItem(NOTIFIED) || "[]"); } catch (e) { return []; }
  }

  function notifyOf(feature) {
    if (!state.notify || typeof Notification === "undefined" || Notification.permission !== "granted") return;
    var p = feature.properties || {};
    var key = feature.id + "@" + p.received_at;
    var seen = notified();
    if (seen.indexOf(key) >= 0) return;
    seen.push(key);
    try { sessionStorage.setItem(NOTIFIED, JSON.stringify(seen.slice(-200))); } catch (e) { /* full */ }
    var text = localized(p);
    var title = (p.state === "cancelled" ? t("msg_Cancel") + ": " : "") + (text.headline || p.event || "");
    try {
      new Notification(title, { body: text.instruction || "", tag: feature.id, lang: state.lang });
    } catch (e) { // some mobile browsers allow notifications only through the service worker
      if (navigator.serviceWorker) {
        navigator.serviceWorker.ready.then(function (reg) {
          reg.showNotification(title, { body: text.instruction || "", tag: feature.id });
        });
      }
    }
  }

  $("ap-notify").addEventListener("click", function () {
    var status = $("ap-notify-status");
    if (typeof Notification === "undefined") { status.textContent = t("notify_denied"); return; }
    Notification.requestPermission().then(function (answer) {
      state.notify = answer === "granted";
      status.textContent = state.notify ? t("notify_on") : t("notify_denied");
      if (state.notify) state.alerts.forEach(notifyOf);
    });
  });

  /* ---------- notifications for a drawn area: WS /ws/cop, the alerts layer's changes from now on ---------- */

  var areaWatch = { ws: null, seq: null, ring: null, retry: 0 };

  function watchArea(ring) {
    areaWatch.ring = ring;
    if (areaWatch.ws) { areaWatch.ws.onclose = null; areaWatch.ws.close(); areaWatch.ws = null; }
    if (!ring) return;
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var ws = new WebSocket(scheme + "//" + location.host + config.cop_ws_path
      + (areaWatch.seq !== null ? "?after=" + areaWatch.seq : ""));
    areaWatch.ws = ws;
    ws.onmessage = function (msg) {
      var data = null;
      try { data = JSON.parse(msg.data); } catch (e) { return; }
      if (!data) return;
      if (data.type === "hello") { if (areaWatch.seq === null || data.reset) areaWatch.seq = data.seq; return; }
      if (typeof data.seq === "number") areaWatch.seq = Math.max(areaWatch.seq || 0, data.seq);
      if (data.type === "upsert" && data.layer === "alerts" && data.feature && touches(data.feature.geometry, ring)) {
        notifyOf(data.feature);
      }
    };
    ws.onopen = function () { areaWatch.retry = 0; };
    ws.onclose = function () {
      if (areaWatch.ws !== ws) return;
      var wait = Math.min(30000, 1000 * Math.pow(2, areaWatch.retry++));
      setTimeout(function () { if (areaWatch.ws === ws) watchArea(areaWatch.ring); }, wait);
    };
  }

  /* Whether an alert's area (GeoJSON Polygon/MultiPolygon, [lon, lat]) meets the drawn ring; planar in
     degrees, outer rings only: close enough for a notification while the page is open, not for delivery. */
  function touches(geometry, ring) {
    if (!geometry) return false;
    var polys = geometry.type === "Polygon" ? [geometry.coordinates]
      : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
    return polys.some(function (poly) { return ringsMeet(poly[0], ring); });
  }

  function inRing(ring, pt) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > pt[1]) !== (yj > pt[1]) && pt[0] < (xj - xi) * (pt[1] - yi) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  function cross(a, b, c) { return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]); }

  function ringsMeet(a, b) {
    if (a.some(function (p) { return inRing(b, p); }) || b.some(function (p) { return inRing(a, p); })) return true;
    for (var i = 0; i + 1 < a.length; i++) {
      for (var j = 0; j + 1 < b.length; j++) {
        if (cross(a[i], a[i + 1], b[j]) * cross(a[i], a[i + 1], b[j + 1]) < 0
          && cross(b[j], b[j + 1], a[i]) * cross(b[j], b[j + 1], a[i + 1]) < 0) return true;
      }
    }
    return false;
  }

  /* ---------- drawing an area (tap corners) ---------- */

  function renderDrawStatus() {
    $("ap-draw-status").textContent = state.drawing ? t("draw_hint") + " — " + t("draw_points", { count: state.corners.length })
      : state.corners.length ? t("draw_points", { count: state.corners.length }) : "";
  }

  function redrawCorners() {
    drawLayer.clearLayers();
    if (!state.corners.length) return;
    var latlngs = state.corners.map(function (c) { return [c[1], c[0]]; });
    (state.drawing ? L.polyline(latlngs, { color: "#0d47a1", dashArray: "4 4" })
      : L.polygon(latlngs, { color: "#0d47a1", fillOpacity: 0.1 })).addTo(drawLayer);
    latlngs.forEach(function (ll) { L.circleMarker(ll, { radius: 4, color: "#0d47a1" }).addTo(drawLayer); });
  }

  map.on("click", function (event) {
    if (!state.drawing) return;
    state.corners.push([round6(event.latlng.lng), round6(event.latlng.lat)]);
    $("ap-draw-finish").disabled = state.corners.length < 3;
    redrawCorners();
    renderDrawStatus();
  });

  function round6(x) { return Math.round(x * 1e6) / 1e6; }

  $("ap-draw").addEventListener("click", function () {
    state.drawing = true;
    state.corners = [];
    document.querySelector("input[name=ap-area][value=polygon]").checked = true;
    redrawCorners();
    renderDrawStatus();
  });
  $("ap-draw-finish").addEventListener("click", function () {
    state.drawing = false;
    $("ap-draw-finish").disabled = true;
    redrawCorners();
    renderDrawStatus();
    watchArea(state.corners.concat([state.corners[0]]));
  });
  $("ap-draw-clear").addEventListener("click", function () {
    state.drawing = false;
    state.corners = [];
    watchArea(null);
    $("ap-draw-finish").disabled = true;
    redrawCorners();
    renderDrawStatus();
  });

  /* ---------- subscribing (POST /api/v1/subscriptions) ---------- */

  function buildTiers() {
    var box = $("ap-tiers");
    var chosen = {};
    box.querySelectorAll("input[type=checkbox]").forEach(function (c) { chosen[c.value] = c.checked; });
    box.querySelectorAll("label").forEach(function (l) { l.remove(); });
    config.tiers.forEach(function (tier) {
      var label = el("label");
      var box2 = el("input");
      box2.type = "checkbox";
      box2.value = tier;
      box2.id = "ap-tier-" + tier;
      box2.checked = tier in chosen ? chosen[tier] : tier !== "test";
      if (tier === "presidential") { box2.checked = true; box2.disabled = true; }
      label.appendChild(box2);
      label.appendChild(document.createTextNode(" " + t("tier_" + tier)));
      if (tier === "presidential") label.appendChild(el("span", "ap-note", " (" + t("tier_locked") + ")"));
      if (tier === "test") label.appendChild(el("span", "ap-note", " (" + t("tier_test_note") + ")"));
      box.appendChild(label);
    });
  }

  function base64UrlToBytes(text) {
    var padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function registerWorker() {
    if (!("serviceWorker" in navigator)) return Promise.reject(new Error("no service worker support"));
    return navigator.serviceWorker.register(config.sw_url, { scope: config.sw_scope });
  }

  /* The browser's push subscription for this page, made with the server's VAPID key. */
  function pushChannel() {
    if (!("PushManager" in window)) return Promise.reject(new Error("no Push API"));
    return registerWorker().then(function () { return navigator.serviceWorker.ready; }).then(function (reg) {
      return fetch(config.vapid_path).then(function (r) { return r.json(); }).then(function (vapid) {
        return reg.pushManager.subscribe({ userVisibleOnly: true,
          applicationServerKey: base64UrlToBytes(vapid.applicationServerKey) });
      });
    }).then(function (sub) {
      var json = sub.toJSON();
      return { type: "webpush", subscription: { endpoint: json.endpoint, keys: json.keys } };
    });
  }

  function subscriptionBody() {
    var mode = document.querySelector("input[name=ap-area]:checked").value;
    var area;
    if (mode === "point") {
      if (!state.location) throw new Error(t("need_place"));
      area = { point: { lat: state.location.lat, lon: state.location.lon }, radius_m: Number($("ap-radius").value) };
    } else {
      if (state.corners.length < 3) throw new Error(t("need_area"));
      var ring = state.corners.concat([state.corners[0]]);
      area = { polygon: { type: "Polygon", coordinates: [ring] } };
    }
    var channels = [];
    if ($("ap-ch-email").checked) channels.push({ type: "email", address: $("ap-email").value.trim() });
    if ($("ap-ch-sms").checked) channels.push({ type: "sms", number: $("ap-sms").value.trim() });
    if ($("ap-ch-webhook").checked) channels.push({ type: "webhook", url: $("ap-webhook").value.trim() });
    var tiers = {};
    document.querySelectorAll("#ap-tiers input[type=checkbox]").forEach(function (c) {
      if (c.value !== "presidential") tiers[c.value] = c.checked;
    });
    return { areas: [area], channels: channels, languages: [state.lang], tiers: tiers };
  }

  $("ap-sub-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var error = $("ap-sub-error");
    error.textContent = "";
    var body;
    try { body = subscriptionBody(); } catch (e) { error.textContent = e.message; return; }
    var wantsPush = $("ap-ch-webpush").checked;
    if (!wantsPush && !body.channels.length) { error.textContent = t("need_channel"); return; }
    $("ap-sub-send").disabled = true;
    var push = wantsPush ? pushChannel().catch(function (e) {
      throw new Error(t("push_unavailable", { reason: e.message }));
    }) : Promise.resolve(null);
    push.then(function (channel) {
      if (channel) body.channels.unshift(channel);
      return fetch(config.subscriptions_path, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body) });
    }).then(function (r) {
      return r.json().then(function (answer) { return { ok: r.ok, answer: answer }; });
    }).then(function (res) {
      if (!res.ok) throw new Error(t("refused", { detail: detailText(res.answer.detail) }));
      state.subscription = res.answer;
      showSubscription(res.answer);
    }).catch(function (e) { error.textContent = e.message; })
      .then(function () { $("ap-sub-send").disabled = false; });
  });

  function detailText(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map(function (d) { return (d.loc || []).join(".") + ": " + d.msg; }).join("; ");
    return JSON.stringify(detail);
  }

  function areaText(a) {
    if (a.zone) return t("zone_area", { name: a.name || a.zone });
    if (a.type === "Point") {
      return t("point_area", { radius: a.radius_m, lat: a.coordinates[1], lon: a.coordinates[0] });
    }
    var ring = a.type === "Polygon" ? a.coordinates[0] : (a.coordinates[0] || [[]])[0];
    return t("polygon_area", { count: Math.max(0, ring.length - 1) });
  }

  function showSubscription(answer) {
    var box = $("ap-sub-result");
    box.replaceChildren();
    box.hidden = false;
    box.appendChild(el("p", null, t("subscribed")));
    var dl = el("dl", "ap-echo");
    function row(key, value, cls) {
      dl.appendChild(el("dt", null, t(key)));
      dl.appendChild(el("dd", cls, value));
    }
    row("areas_understood", answer.areas.map(areaText).join("; "), "ap-echo-areas");
    row("tiers", answer.tiers.map(function (x) { return t("tier_" + x); }).join(", "), "ap-echo-tiers");
    row("languages", answer.languages.join(", "), "ap-echo-languages");
    row("channels", answer.channels.map(function (c) {
      return t("ch_" + c.type) + (c.contact ? " " + c.contact : "") + " — " + (c.confirmed ? t("ok") : t("pending"));
    }).join("; "), "ap-echo-channels");
    box.appendChild(dl);
    box.appendChild(el("p", null, t("token")));
    box.appendChild(el("p", "ap-token", answer.token));
    box.appendChild(el("p", "ap-warning", t("token_warning")));
    (answer.pending_confirmation || []).forEach(function (channel) { box.appendChild(confirmForm(answer, channel)); });
  }

  function confirmForm(answer, channel) {
    var form = el("form", "ap-confirm");
    form.dataset.channel = channel;
    var label = el("label", null, t("confirm_needed", { channel: t("ch_" + channel) }) + " ");
    var input = el("input");
    input.name = "code";
    input.inputMode = "numeric";
    input.autocomplete = "one-time-code";
    input.maxLength = 16;
    label.appendChild(input);
    var button = el("button", null, t("confirm"));
    button.type = "submit";
    var out = el("p", "ap-confirm-result");
    form.appendChild(label);
    form.appendChild(button);
    form.appendChild(out);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(config.subscriptions_path + "/" + encodeURIComponent(answer.id) + "/confirm", {
        method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + answer.token },
        body: JSON.stringify({ channel: channel, code: input.value.trim() }),
      }).then(function (r) {
        return r.json().then(function (b) { return { ok: r.ok, body: b }; });
      }).then(function (res) {
        out.textContent = res.ok ? t("confirmed", { channel: t("ch_" + channel) })
          : t("refused", { detail: detailText(res.body.detail) });
        out.className = "ap-confirm-result " + (res.ok ? "ap-ok" : "ap-error");
      }).catch(function (e) { out.textContent = e.message; });
    });
    return form;
  }

  /* ---------- start ---------- */

  buildLanguageSwitch();
  applyStrings();
  if (typeof Notification !== "undefined" && Notification.permission === "granted") {
    state.notify = true; // allowed on an earlier visit: keep notifying while the page is open
    $("ap-notify-status").textContent = t("notify_on");
  }
  registerWorker().catch(function () { /* no offline copy: the page still works online */ });

  window.alertsPage = {
    state: state,
    ingest: ingest,
    setLocation: setLocation,
    lang: function () { return state.lang; },
    map: map,
  };
})();
