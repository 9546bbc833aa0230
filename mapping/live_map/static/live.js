/*
 * Live layers for the coordinator's map (common operating picture).
 *
 * Plain ES2017, no build step. Runs after folium's inline script has created the
 * Leaflet map; reads its settings from <script id="cop-config" type="application/json">:
 *   map_var         global name of the folium L.map
 *   layer_vars      {reports, road_closures, alerts, streets}: global names of the
 *                   folium layer groups to fill (created here when missing)
 *   api_prefix      GET {api_prefix}/reports | /road-closures | /alerts -> FeatureCollection
 *   ws_path         WebSocket path on this host; messages:
 *                     {"type":"upsert","layer":L,"feature":Feature}
 *                     {"type":"remove","layer":L,"id":ID}
 *   base_layer_url  optional GeoJSON of named road LineStrings ("Streets (offline)")
 * GeoJSON coordinates are WGS 84 [lon, lat] (RFC 7946).
 *
 * For tests and debugging: window.copLayers = {reports, road_closures, alerts}, each a
 * Map(id -> Leaflet layer) whose layers carry options.copId and .feature;
 * window.copLive exposes upsert/remove/reload and the connection state.
 * User-supplied text is only ever put into the DOM with textContent.
 */
(function () {
  "use strict";

  var LAYER_KEYS = ["reports", "road_closures", "alerts"];
  var ENDPOINTS = { reports: "/reports", road_closures: "/road-closures", alerts: "/alerts" };
  var DEFAULT_TITLES = {
    reports: "Reports",
    road_closures: "Road closures",
    alerts: "Alerts",
    streets: "Streets (offline)",
  };

  /* Report categories: awesome-markers colour name, matching hex (legend, fallback), icon. */
  var CATEGORY_STYLES = {
    spot_fire: { label: "Spot fire", marker: "red", hex: "#d63e2a", icon: "fire" },
    smoke: { label: "Smoke", marker: "gray", hex: "#575757", icon: "smog" },
    flooding: { label: "Flooding", marker: "blue", hex: "#38aadd", icon: "water" },
    blocked_road: { label: "Blocked road", marker: "orange", hex: "#f69730", icon: "road-barrier" },
    road_closure: { label: "Road closure", marker: "black", hex: "#303030", icon: "road-circle-xmark" },
    damage: { label: "Damage", marker: "darkpurple", hex: "#5b396b", icon: "house-crack" },
    needs_help: { label: "Needs help", marker: "darkred", hex: "#a23336", icon: "person-circle-exclamation" },
    other: { label: "Other", marker: "cadetblue", hex: "#436978", icon: "circle-info" },
  };

  /* Alert tiers in priority order (CMAS / WEA). */
  var TIER_STYLES = {
    presidential: { label: "Presidential", hex: "#6a1b9a" },
    imminent_threat_extreme: { label: "Imminent threat: extreme", hex: "#c62828" },
    imminent_threat_severe: { label: "Imminent threat: severe", hex: "#ef6c00" },
    child_abduction: { label: "Child abduction (AMBER)", hex: "#ad1457" },
    public_safety: { label: "Public safety", hex: "#1565c0" },
    test: { label: "Test", hex: "#757575" },
  };
  var UNKNOWN_TIER = { label: "Alert", hex: "#455a64" };

  var KIND_LABELS = {
    citizen_report: "Citizen report",
    social_post: "Social media post",
    agency_report: "Agency report",
    feed_item: "External feed",
    alert: "Alert",
  };

  var CLOSURE_COLOR = "#b71c1c";
  var STREET_WEIGHTS = { motorway: 2.4, trunk: 2.2, primary: 2, secondary: 1.5, tertiary: 1.2 };

  var PANES = [
    // name, z-index (Leaflet: tiles 200, overlays 400, markers 600), pointer events
    ["copStreets", 250, false],
    ["copAlerts", 410, true],
    ["copClosures", 420, true],
  ];

  var state = {
    config: null,
    map: null,
    groups: {},
    ws: null,
    status: "connecting",
    everOpen: false,
    attempt: 0,
    reconnectTimer: null,
    fetchGen: { reports: 0, road_closures: 0, alerts: 0 },
    fetchRetry: { reports: 0, road_closures: 0, alerts: 0 },
    // While a snapshot fetch is in flight: ids changed by the WebSocket meanwhile (newer).
    touched: { reports: null, road_closures: null, alerts: null },
    lastUpdate: null,
    error: null,
  };

  window.copLayers = { reports: new Map(), road_closures: new Map(), alerts: new Map() };

  /* ---------- small helpers ---------- */

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function props(feature) {
    return (feature && feature.properties) || {};
  }

  function featureId(feature) {
    if (!feature || typeof feature !== "object") return null;
    if (feature.id !== undefined && feature.id !== null) return String(feature.id);
    var p = props(feature);
    return p.id !== undefined && p.id !== null ? String(p.id) : null;
  }

  function parseTime(iso) {
    if (!iso) return null;
    var d = new Date(iso);
    return isNaN(d.getTime()) ? null : d;
  }

  function formatTime(iso) {
    var d = parseTime(iso);
    if (!d) return iso ? String(iso) : "—";
    return d.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    });
  }

  function relativeTime(iso) {
    var d = parseTime(iso);
    if (!d) return "";
    var s = Math.round((Date.now() - d.getTime()) / 1000);
    var future = s < 0;
    s = Math.abs(s);
    var text = s < 60 ? s + " s" : s < 3600 ? Math.round(s / 60) + " min"
      : s < 172800 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
    return future ? "in " + text : text + " ago";
  }

  function categoryStyle(category) {
    return CATEGORY_STYLES[category] || CATEGORY_STYLES.other;
  }

  function humanize(value) {
    return String(value).replace(/_/g, " ");
  }

  /* ---------- popups (DOM built with textContent only) ---------- */

  function popupShell(heading, color, subheading) {
    var box = el("div", "cop-popup");
    var head = el("div", "cop-popup-head");
    var chip = el("span", "cop-chip");
    chip.style.background = color;
    head.appendChild(chip);
    head.appendChild(el("strong", null, heading));
    box.appendChild(head);
    if (subheading) box.appendChild(el("div", "cop-popup-sub", subheading));
    return box;
  }

  function addText(box, text, className) {
    if (text === undefined || text === null || text === "") return;
    box.appendChild(el("p", className || "cop-popup-text", text));
  }

  function addRows(box, rows) {
    var dl = el("dl", "cop-popup-rows");
    rows.forEach(function (row) {
      if (row[1] === undefined || row[1] === null || row[1] === "") return;
      dl.appendChild(el("dt", null, row[0]));
      var dd = el("dd", null, row[1]);
      if (row[2]) dd.title = row[2];
      dl.appendChild(dd);
    });
    box.appendChild(dl);
  }

  function timeRow(label, iso) {
    if (!iso) return [label, null];
    var rel = relativeTime(iso);
    return [label, formatTime(iso) + (rel ? " (" + rel + ")" : ""), String(iso)];
  }

  function reportPopup(feature) {
    var p = props(feature);
    var style = categoryStyle(p.category);
    var heading = CATEGORY_STYLES[p.category] ? style.label : humanize(p.category || "report");
    var box = popupShell(heading, style.hex, KIND_LABELS[p.kind] || (p.kind ? humanize(p.kind) : null));
    addText(box, p.text);
    if (p.kind === "social_post") addRows(box, socialRows(p));
    addRows(box, [
      timeRow("Observed", p.observed_at),
      ["Location", p.geo_precision ? humanize(p.geo_precision) : null],
      ["Confidence", p.confidence],
      ["Source", p.source_type ? humanize(p.source_type) : null],
      ["ID", featureId(feature)],
    ]);
    return box;
  }

  /* a near-duplicate cluster of social posts: how many said it, how many people, since when */
  function socialRows(p) {
    var count = Number(p.count) || 1;
    var people = Number(p.distinct_authors) || 0;
    var said = count === 1 ? "1 post" : count + " posts";
    if (people > 0) said += " from " + (people === 1 ? "1 person" : people + " people");
    return [
      ["Reported by", said],
      ["Social category", p.social_category ? humanize(p.social_category) : null],
      ["Informative", p.informative === undefined ? null : (p.informative ? "yes" : "no")],
      timeRow("First seen", p.first_seen),
      timeRow("Last seen", count > 1 ? p.last_seen : null),
    ];
  }

  function closurePopup(feature) {
    var p = props(feature);
    var box = popupShell("Road closure", CLOSURE_COLOR, p.agency || null);
    addText(box, p.reason, "cop-popup-text cop-popup-strong");
    addText(box, p.text);
    addRows(box, [
      timeRow("From", p.start),
      timeRow("Until", p.end),
      timeRow("Reported", p.observed_at),
      ["Source", p.source_type ? humanize(p.source_type) : null],
      ["ID", featureId(feature)],
    ]);
    return box;
  }

  function alertPopup(feature) {
    var p = props(feature);
    var tier = TIER_STYLES[p.tier] || UNKNOWN_TIER;
    var box = popupShell(TIER_STYLES[p.tier] ? tier.label : humanize(p.tier || "alert"), tier.hex,
      isExpired(p) ? "Expired" : "Active alert");
    addText(box, p.headline, "cop-popup-text cop-popup-strong");
    addText(box, p.text);
    addRows(box, [
      timeRow("Issued", p.observed_at),
      timeRow("Expires", p.expires),
      ["ID", featureId(feature)],
    ]);
    return box;
  }

  function isExpired(p) {
    var d = parseTime(p.expires);
    return d !== null && d.getTime() < Date.now();
  }

  /* ---------- layer builders: Feature -> Leaflet layer (or null when not drawable) ---------- */

  function pointLatLng(geometry) {
    if (!geometry || !geometry.type) return null;
    var c = null;
    if (geometry.type === "Point") c = geometry.coordinates;
    else if (geometry.type === "MultiPoint" && geometry.coordinates && geometry.coordinates.length) {
      c = geometry.coordinates[0];
    } else {
      try {
        var bounds = L.geoJSON(geometry).getBounds();
        return bounds.isValid() ? bounds.getCenter() : null;
      } catch (e) {
        return null;
      }
    }
    if (!c || c.length < 2 || !isFinite(c[0]) || !isFinite(c[1])) return null;
    return L.latLng(Number(c[1]), Number(c[0]));
  }

  function buildReport(feature, id) {
    var latlng = pointLatLng(feature.geometry);
    if (!latlng) return null;
    var p = props(feature);
    var style = categoryStyle(p.category);
    var approximate = p.geo_precision === "place" || p.geo_precision === "region";
    var marker;
    if (L.AwesomeMarkers) {
      marker = L.marker(latlng, {
        icon: L.AwesomeMarkers.icon({
          icon: style.icon, prefix: "fa", markerColor: style.marker, iconColor: "white",
        }),
        title: style.label,
        opacity: approximate ? 0.7 : 1,
        copId: id,
      });
    } else {
      marker = L.circleMarker(latlng, {
        radius: 7, color: "#ffffff", weight: 1.5, fillColor: style.hex,
        fillOpacity: approximate ? 0.6 : 0.9, copId: id,
      });
    }
    marker.bindPopup(function () { return reportPopup(feature); }, { maxWidth: 320 });
    return marker;
  }

  function buildClosure(feature, id) {
    if (!feature.geometry) return null;
    var casing = L.geoJSON(feature, {
      pane: "copClosures", interactive: false,
      style: function () { return { color: "#ffffff", weight: 9, opacity: 0.75, lineCap: "butt" }; },
      pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { pane: "copClosures", radius: 8 }); },
    });
    var line = L.geoJSON(feature, {
      pane: "copClosures",
      style: function () {
        return { color: CLOSURE_COLOR, weight: 5, opacity: 0.95, dashArray: "10 7", lineCap: "butt" };
      },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, { pane: "copClosures", radius: 6, fillOpacity: 0.9 });
      },
    });
    var group = L.featureGroup([casing, line], { copId: id });
    group.bindPopup(function () { return closurePopup(feature); }, { maxWidth: 320 });
    return group;
  }

  function buildAlert(feature, id) {
    if (!feature.geometry) return null;
    var p = props(feature);
    var tier = TIER_STYLES[p.tier] || UNKNOWN_TIER;
    var expired = isExpired(p);
    var layer = L.geoJSON(feature, {
      pane: "copAlerts",
      copId: id,
      style: function () {
        return {
          color: tier.hex, weight: 2, opacity: expired ? 0.5 : 0.9,
          fillColor: tier.hex, fillOpacity: expired ? 0.05 : 0.18,
          dashArray: expired ? "4 6" : null,
        };
      },
    });
    layer.bindPopup(function () { return alertPopup(feature); }, { maxWidth: 320 });
    return layer;
  }

  var BUILDERS = { reports: buildReport, road_closures: buildClosure, alerts: buildAlert };

  function build(key, feature, id) {
    var layer;
    try {
      layer = BUILDERS[key](feature, id);
    } catch (e) {
      console.warn("cop: cannot draw feature", key, id, e);
      return null;
    }
    if (layer) {
      layer.options.copId = id;
      layer.feature = feature;
    }
    return layer;
  }

  /* ---------- applying changes ---------- */

  function sameFeature(layer, feature) {
    try {
      return JSON.stringify(layer.feature) === JSON.stringify(feature);
    } catch (e) {
      return false;
    }
  }

  function addLayers(group, layers) {
    if (!layers.length) return;
    if (group.addLayers) group.addLayers(layers);
    else layers.forEach(function (l) { group.addLayer(l); });
  }

  function removeLayers(group, layers) {
    if (!layers.length) return;
    if (group.removeLayers) group.removeLayers(layers);
    else layers.forEach(function (l) { group.removeLayer(l); });
  }

  function upsert(key, feature) {
    var id = featureId(feature);
    if (id === null || !BUILDERS[key]) return false;
    var index = window.copLayers[key];
    var group = state.groups[key];
    var old = index.get(id);
    if (old && sameFeature(old, feature)) return true;
    var reopenAt = old && old.isPopupOpen && old.isPopupOpen() ? old.getPopup().getLatLng() : null;
    if (old) group.removeLayer(old);
    index.delete(id);
    var layer = build(key, feature, id);
    if (layer) {
      index.set(id, layer);
      group.addLayer(layer);
      if (reopenAt) {
        try {
          layer.openPopup(key === "reports" ? undefined : reopenAt);
        } catch (e) { /* marker is inside a cluster: leave the popup closed */ }
      }
    }
    return true;
  }

  function remove(key, id) {
    var index = window.copLayers[key];
    if (!index) return false;
    id = String(id);
    var old = index.get(id);
    if (old) {
      state.groups[key].removeLayer(old);
      index.delete(id);
    }
    return true;
  }

  /* Replace a layer with a fetched snapshot, keeping WebSocket changes that arrived meanwhile. */
  function applySnapshot(key, collection, touched) {
    var index = window.copLayers[key];
    var group = state.groups[key];
    var features = (collection && Array.isArray(collection.features)) ? collection.features : [];
    var seen = new Set();
    var toAdd = [];
    var toRemove = [];
    features.forEach(function (feature) {
      var id = featureId(feature);
      if (id === null || seen.has(id)) return;
      seen.add(id);
      if (touched.has(id)) return;
      var old = index.get(id);
      if (old && sameFeature(old, feature)) return;
      if (old) toRemove.push(old);
      index.delete(id);
      var layer = build(key, feature, id);
      if (layer) {
        index.set(id, layer);
        toAdd.push(layer);
      }
    });
    Array.from(index.keys()).forEach(function (id) {
      if (!seen.has(id) && !touched.has(id)) {
        toRemove.push(index.get(id));
        index.delete(id);
      }
    });
    removeLayers(group, toRemove);
    addLayers(group, toAdd);
  }

  /* ---------- loading from the API ---------- */

  function fetchJson(url) {
    return fetch(url, {
      headers: { Accept: "application/geo+json, application/json" },
      cache: "no-store",
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok) throw new Error(url + ": HTTP " + response.status);
      return response.json();
    });
  }

  function loadLayer(key) {
    var gen = ++state.fetchGen[key];
    var touched = new Set();
    state.touched[key] = touched;
    return fetchJson(state.config.api_prefix + ENDPOINTS[key]).then(function (collection) {
      if (gen !== state.fetchGen[key]) return; // a newer fetch superseded this one
      state.touched[key] = null;
      applySnapshot(key, collection, touched);
      state.fetchRetry[key] = 0;
      clearError(key);
      markUpdated();
    }).catch(function (err) {
      if (gen !== state.fetchGen[key]) return;
      state.touched[key] = null;
      showError(key, "Could not load " + (DEFAULT_TITLES[key] || key).toLowerCase());
      console.warn("cop:", err);
      var delay = Math.min(60000, 2000 * Math.pow(2, state.fetchRetry[key]++));
      setTimeout(function () { if (gen === state.fetchGen[key]) loadLayer(key); }, delay);
    });
  }

  function loadAll() {
    LAYER_KEYS.forEach(loadLayer);
  }

  function streetStyle(feature) {
    var highway = String(props(feature).highway || "").replace(/_link$/, "");
    return {
      color: highway in STREET_WEIGHTS ? "#a3a3a3" : "#bdbdbd",
      weight: STREET_WEIGHTS[highway] || 0.9,
      opacity: 0.9,
    };
  }

  function loadStreets(group, attempt) {
    var url = state.config.base_layer_url;
    fetchJson(url).then(function (collection) {
      var layer = L.geoJSON(collection, {
        pane: "copStreets",
        interactive: false,
        renderer: L.canvas({ pane: "copStreets", padding: 0.5 }),
        style: streetStyle,
        pointToLayer: function () { return null; },
        filter: function (f) { return !!f.geometry && f.geometry.type !== "Point"; },
      });
      group.addLayer(layer);
      if (collection && typeof collection.attribution === "string" && state.map.attributionControl) {
        state.map.attributionControl.addAttribution(escapeHtml(collection.attribution));
      }
    }).catch(function (err) {
      console.warn("cop: streets base layer", err);
      if (attempt < 3) setTimeout(function () { loadStreets(group, attempt + 1); }, 3000 * (attempt + 1));
    });
  }

  /* ---------- WebSocket ---------- */

  function wsUrl() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + state.config.ws_path;
  }

  function connect() {
    state.reconnectTimer = null;
    setStatus(state.everOpen ? "reconnecting" : "connecting");
    var ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    ws.onopen = function () {
      if (state.ws !== ws) return;
      state.everOpen = true;
      state.attempt = 0;
      setStatus("live");
      loadAll(); // re-sync: anything sent while we were away is in the snapshot
    };
    ws.onmessage = function (event) {
      if (state.ws === ws) handleMessage(event.data);
    };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      state.ws = null;
      setStatus("reconnecting");
      scheduleReconnect();
    };
    ws.onerror = function () { /* a close event follows */ };
  }

  function scheduleReconnect() {
    if (state.reconnectTimer !== null) return;
    var ceiling = Math.min(30000, 1000 * Math.pow(2, state.attempt++));
    var delay = ceiling / 2 + Math.random() * (ceiling / 2);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (state.ws || state.reconnectTimer === null) return;
    clearTimeout(state.reconnectTimer);
    state.attempt = 0;
    connect();
  }

  function handleMessage(data) {
    var msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (!msg || typeof msg !== "object" || LAYER_KEYS.indexOf(msg.layer) < 0) return;
    var key = msg.layer;
    var id;
    if (msg.type === "upsert" && msg.feature && typeof msg.feature === "object") {
      id = featureId(msg.feature);
      if (id === null) return;
      upsert(key, msg.feature);
    } else if (msg.type === "remove" && (typeof msg.id === "string" || typeof msg.id === "number")) {
      id = String(msg.id);
      remove(key, id);
    } else {
      return;
    }
    if (state.touched[key]) state.touched[key].add(id);
    markUpdated();
  }

  /* ---------- status panel and legend ---------- */

  function setStatus(status) {
    state.status = status;
    var node = document.getElementById("cop-status");
    if (node) node.textContent = status;
    var panel = document.getElementById("cop-status-panel");
    if (panel) panel.setAttribute("data-state", status);
  }

  function markUpdated() {
    state.lastUpdate = new Date();
    refreshPanel();
  }

  function refreshPanel() {
    LAYER_KEYS.forEach(function (key) {
      var node = document.getElementById("cop-count-" + key);
      if (node) node.textContent = String(window.copLayers[key].size);
    });
    var updated = document.getElementById("cop-updated");
    if (updated && state.lastUpdate) {
      updated.textContent = state.lastUpdate.toLocaleTimeString();
      updated.title = state.lastUpdate.toISOString();
    }
  }

  var errors = {};

  function showError(key, message) {
    errors[key] = message;
    renderErrors();
  }

  function clearError(key) {
    if (errors[key]) {
      delete errors[key];
      renderErrors();
    }
  }

  function renderErrors() {
    var node = document.getElementById("cop-error");
    if (!node) return;
    var messages = Object.keys(errors).map(function (k) { return errors[k]; });
    node.textContent = messages.join("; ");
    node.hidden = messages.length === 0;
  }

  function makeControl(position, build) {
    var Control = L.Control.extend({
      onAdd: function () {
        var node = build();
        L.DomEvent.disableClickPropagation(node);
        L.DomEvent.disableScrollPropagation(node);
        return node;
      },
    });
    return new Control({ position: position });
  }

  function buildStatusPanel() {
    var titles = state.config.layer_titles || DEFAULT_TITLES;
    var panel = el("div", "cop-panel cop-status-panel");
    panel.id = "cop-status-panel";
    panel.setAttribute("data-state", state.status);
    var conn = el("div", "cop-conn");
    conn.appendChild(el("span", "cop-dot"));
    var status = el("span", "cop-status-text", state.status);
    status.id = "cop-status";
    conn.appendChild(status);
    panel.appendChild(conn);
    var table = el("table", "cop-counts");
    LAYER_KEYS.forEach(function (key) {
      var row = el("tr");
      row.appendChild(el("th", null, titles[key] || DEFAULT_TITLES[key]));
      var cell = el("td", null, "0");
      cell.id = "cop-count-" + key;
      row.appendChild(cell);
      table.appendChild(row);
    });
    panel.appendChild(table);
    var updatedRow = el("div", "cop-updated-row", "Updated ");
    var updated = el("span", null, "—");
    updated.id = "cop-updated";
    updatedRow.appendChild(updated);
    panel.appendChild(updatedRow);
    var error = el("div", "cop-error");
    error.id = "cop-error";
    error.hidden = true;
    panel.appendChild(error);
    return panel;
  }

  function legendItem(swatch, label) {
    var row = el("div", "cop-legend-item");
    row.appendChild(swatch);
    row.appendChild(el("span", null, label));
    return row;
  }

  function buildLegend() {
    var details = el("details", "cop-panel cop-legend");
    details.id = "cop-legend";
    details.open = window.innerHeight >= 640 && window.innerWidth >= 640;
    details.appendChild(el("summary", null, "Legend"));
    details.appendChild(el("div", "cop-legend-title", "Reports"));
    Object.keys(CATEGORY_STYLES).forEach(function (category) {
      var style = CATEGORY_STYLES[category];
      var swatch = el("span", "cop-swatch cop-swatch-marker");
      swatch.style.background = style.hex;
      swatch.appendChild(el("i", "fa fa-" + style.icon));
      details.appendChild(legendItem(swatch, style.label));
    });
    details.appendChild(el("div", "cop-legend-title", "Road closures"));
    details.appendChild(legendItem(el("span", "cop-swatch cop-swatch-closure"), "Closed road"));
    details.appendChild(el("div", "cop-legend-title", "Alerts"));
    Object.keys(TIER_STYLES).forEach(function (tier) {
      var swatch = el("span", "cop-swatch cop-swatch-area");
      swatch.style.borderColor = TIER_STYLES[tier].hex;
      swatch.style.backgroundColor = TIER_STYLES[tier].hex + "40";
      details.appendChild(legendItem(swatch, TIER_STYLES[tier].label));
    });
    return details;
  }

  /* ---------- start-up ---------- */

  function ensurePanes(map) {
    PANES.forEach(function (spec) {
      var pane = map.getPane(spec[0]) || map.createPane(spec[0]);
      pane.style.zIndex = String(spec[1]);
      if (!spec[2]) pane.style.pointerEvents = "none";
    });
  }

  function findGroup(name) {
    var group = name ? window[name] : null;
    return group && typeof group.addLayer === "function" ? group : null;
  }

  function setUpGroups() {
    var vars = state.config.layer_vars || {};
    var missing = {};
    LAYER_KEYS.forEach(function (key) {
      var group = findGroup(vars[key]);
      if (!group) {
        group = key === "reports" && L.markerClusterGroup ? L.markerClusterGroup() : L.featureGroup();
        group.addTo(state.map);
        missing[(state.config.layer_titles || DEFAULT_TITLES)[key]] = group;
      }
      state.groups[key] = group;
    });
    if (Object.keys(missing).length) L.control.layers(null, missing, { collapsed: false }).addTo(state.map);
  }

  function start() {
    var configNode = document.getElementById("cop-config");
    if (!configNode) {
      console.error("cop: #cop-config not found");
      return;
    }
    state.config = JSON.parse(configNode.textContent);
    state.config.api_prefix = String(state.config.api_prefix || "").replace(/\/+$/, "");
    var map = window[state.config.map_var];
    if (!map || typeof map.addLayer !== "function") {
      console.error("cop: map variable not found:", state.config.map_var);
      return;
    }
    state.map = map;
    if (!state.config.has_tiles) map.getContainer().classList.add("cop-no-tiles");
    ensurePanes(map);
    setUpGroups();

    if (state.config.base_layer_url) {
      var streets = findGroup((state.config.layer_vars || {}).streets);
      if (!streets) streets = L.featureGroup().addTo(map);
      loadStreets(streets, 0);
    }

    makeControl("bottomleft", buildStatusPanel).addTo(map);
    makeControl("bottomright", buildLegend).addTo(map);
    refreshPanel();

    window.copLive = {
      get status() { return state.status; },
      get lastUpdate() { return state.lastUpdate; },
      upsert: function (key, feature) { var ok = upsert(key, feature); refreshPanel(); return ok; },
      remove: function (key, id) { var ok = remove(key, id); refreshPanel(); return ok; },
      reload: loadAll,
    };

    connect();
    // If the socket is slow to open (or the server has none), show the picture anyway.
    setTimeout(function () { if (!state.everOpen) loadAll(); }, 1500);
    window.addEventListener("online", reconnectNow);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
