/*
 * Live layers for the coordinator's map (common operating picture).
 *
 * Plain ES2017, no build step. Runs after folium's inline script has created the
 * Leaflet map; reads its settings from <script id="cop-config" type="application/json">:
 *   map_var         global name of the folium L.map
 *   layers          the layer registry, in legend order: [{name, title, path, draw, color, z, limit, min_zoom}]
 *                   draw: "markers" (clustered) | "lines" | "areas"; higher z draws on top; a layer with
 *                   min_zoom is drawn only at that zoom and closer (the reports: farther out, the incidents
 *                   layer stands for them; the legend says which are drawn)
 *   layer_vars      {<layer name>: global name of its folium group, streets: ...} (created when missing)
 *   ws_path         the change stream (WebSocket), ?after=SEQ to resume
 *   changes_path    the same changes as pages (GET ?after=SEQ), for tools; the page uses the socket
 *   base_layer_url  optional GeoJSON of named road LineStrings ("Streets (offline)")
 * GeoJSON coordinates are WGS 84 [lon, lat] (RFC 7946).
 *
 * The protocol (every change to the picture has a sequence number, seq):
 *   1. open the socket first (no ?after); its first message is {"type":"hello","seq":HEAD,"reset":false}
 *      and every change after HEAD follows; changes arriving before a layer's snapshot is applied are
 *      buffered;
 *   2. snapshot every layer: GET <layer.path>?limit=<layer.limit>, newest first, a FeatureCollection
 *      with "seq", "total", "returned", "truncated" (shown as "showing 5,000 newest of 6,067");
 *   3. apply the snapshot, then the buffered and live changes
 *        {"type":"upsert","seq":S,"layer":L,"feature":F} | {"type":"remove","seq":S,"layer":L,"id":ID}
 *      a change (or snapshot feature, properties.seq) to an id is applied only when its seq is
 *      greater than the seq held for that id (a remove keeps its seq as a tombstone);
 *   4. on reconnect open /ws/cop?after=maxSeq (the backlog follows, nothing is re-fetched); a hello
 *      with reset=true (the server's sequence is behind ours: another store, a rebuild) drops the
 *      whole picture and starts again at 1.
 *
 * For tests and debugging: window.copLayers = {<layer name>: Map(id -> Leaflet layer)}, whose
 * layers carry options.copId and .feature; window.copLive exposes maxSeq, per-layer snapshot
 * figures (layers[name].truncated / total / returned), the connection state, the socket URLs
 * used, the layers drawn now (shown), and disconnect()/connect() (hold the socket closed, then resume).
 * User-supplied text is only ever put into the DOM with textContent.
 */
(function () {
  "use strict";

  /* Drawing details. Report categories: awesome-markers colour name, matching hex, icon. */
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

  /* Alert tiers in priority order, highest first (CMAS / WEA; the ranks of alerts/tiers.py). */
  var TIER_STYLES = {
    presidential: { label: "Presidential", hex: "#6a1b9a" },
    imminent_threat_extreme: { label: "Imminent threat: extreme", hex: "#c62828" },
    imminent_threat_severe: { label: "Imminent threat: severe", hex: "#ef6c00" },
    child_abduction: { label: "Child abduction (AMBER)", hex: "#ad1457" },
    public_safety: { label: "Public safety", hex: "#1565c0" },
    test: { label: "Test", hex: "#757575" },
  };
  var TIER_ORDER = Object.keys(TIER_STYLES);
  var CANCELLED_STYLE = { color: "#616161", weight: 2, opacity: 0.9, dashArray: "6 5", fill: false };

  var KIND_LABELS = {
    citizen_report: "Citizen report",
    social_post: "Social media post",
    agency_report: "Agency report",
    feed_item: "External feed",
    alert: "Alert",
  };

  var STREET_WEIGHTS = { motorway: 2.4, trunk: 2.2, primary: 2, secondary: 1.5, tertiary: 1.2 };
  var STREETS_PANE = "copStreets"; // below every layer (tiles 200), never interactive
  /* Panes per layer: Leaflet draws overlays at z-index 400 and markers at 600; a layer's pane is
     that base plus its z (0..99), so a higher z draws on top within its kind. */
  var PANE_BASE = { markers: 600, lines: 400, areas: 400 };
  var NUMBER = new Intl.NumberFormat("en-US");

  var state = {
    config: null,
    map: null,
    layers: [],          // config.layers
    byName: {},          // name -> layer config
    groups: {},          // name -> Leaflet group
    seqs: {},            // name -> Map(id -> seq held: of the state drawn, or of its removal)
    synced: {},          // name -> snapshot applied (changes are applied directly)
    buffer: {},          // name -> changes received before the snapshot was applied
    meta: {},            // name -> {total, returned, truncated} of the snapshot
    snapSeq: {},         // name -> seq of the snapshot
    streamSeq: null,     // every change with seq <= streamSeq has been received from the socket
    snapshotGen: 0,
    snapshotting: false,
    snapshotSubscribed: false,
    fetchRetry: {},
    ws: null,
    wsAfter: null,
    helloSeen: false,
    held: false,         // disconnect() holds the socket closed until connect()
    urls: [],
    status: "connecting",
    everOpen: false,
    attempt: 0,
    reconnectTimer: null,
    lastUpdate: null,
    areaPopup: null,
    mergeFrom: null,  // the incident a coordinator chose to merge (the next incident popup offers "merge here")
    userOff: {},      // name -> the coordinator unticked it in the layer control (zooming does not bring it back)
    zooming: false,   // applyZoom is adding or removing a layer
  };

  window.copLayers = {};

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

  function isSeq(value) {
    return typeof value === "number" && isFinite(value);
  }

  function formatCount(n) {
    return NUMBER.format(n);
  }

  /* a length in metres as "850 m" or "1.7 km" */
  function formatLength(metres) {
    var m = Number(metres);
    if (metres === null || metres === undefined || metres === "" || !isFinite(m)) return null;
    if (Math.abs(Math.round(m)) < 1000) return formatCount(Math.round(m)) + " m";
    return (Math.round(m / 100) / 10).toLocaleString("en-US") + " km";
  }

  function capitalise(text) {
    text = String(text);
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

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

  function addLink(box, label, href) {
    var p = el("p", "cop-popup-links");
    var a = el("a", "cop-popup-link", label);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener";
    p.appendChild(a);
    box.appendChild(p);
  }

  function reportPopup(feature) {
    var p = props(feature);
    var style = categoryStyle(p.category);
    var heading = CATEGORY_STYLES[p.category] ? style.label : humanize(p.category || "report");
    var box = popupShell(heading, style.hex, KIND_LABELS[p.kind] || (p.kind ? humanize(p.kind) : null));
    addText(box, p.text);
    if (p.kind === "social_post") addRows(box, socialRows(p));
    if (p.kind === "feed_item") addRows(box, feedRows(p));
    addRows(box, [
      timeRow("Observed", p.observed_at),
      ["Location", p.geo_precision ? humanize(p.geo_precision) : null],
      ["Confidence", p.confidence],
      ["Source", p.source_type ? humanize(p.source_type) : null],
      ["ID", featureId(feature)],
    ]);
    if (p.kind === "feed_item" && /^https?:\/\//.test(p.link || "")) addLink(box, "Source page", p.link);
    addPhotos(box, feature);
    return box;
  }

  /* a report's photos (feeds/photos): public ones are in the feature once verified; a coordinator who entered a
     token sees them before, fetched with the token (an <img> cannot send it) */
  function addPhotos(box, feature) {
    var p = props(feature);
    var strip = el("div", "cop-popup-photos");
    box.appendChild(strip);
    function show(src) {
      var img = el("img", "cop-popup-photo");
      img.src = src;
      img.alt = "photo sent with the report";
      img.style.maxWidth = "100%";
      img.style.maxHeight = "160px";
      img.style.display = "block";
      img.style.marginTop = "4px";
      strip.appendChild(img);
    }
    if (p.photos && p.photos.length) { p.photos.forEach(function (photo) { show(photo.url); }); return; }
    var token = null;
    try { token = window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { token = null; }
    if (!token || !window.fetch || (p.kind !== "citizen_report" && p.kind !== "agency_report")) return;
    var auth = { headers: { Authorization: "Bearer " + token } };
    fetch("/api/v1/events/" + encodeURIComponent(featureId(feature)), auth)
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (full) {
        var photos = (full && full.properties && full.properties.photos) || [];
        photos.forEach(function (photo) {
          fetch(photo.url, auth).then(function (r) { return r.ok ? r.blob() : null; }).then(function (blob) {
            if (blob) show(URL.createObjectURL(blob));
          });
        });
      })
      .catch(function () { /* offline or refused: no thumbnail */ });
  }

  /* an item of another agency's feed: who published it, under which licence, and its own details */
  function feedRows(p) {
    return [
      ["Event", p.event_type || null],
      ["Magnitude", p.magnitude === undefined ? null : p.magnitude],
      ["Status", p.status || p.alert_level || null],
      ["Severity", p.severity || null],
      ["Place", p.place || p.area_desc || null],
      timeRow("Updated", p.updated),
      timeRow("Until", p.expires),
      ["Published by", p.publisher || p.feed || null],
      ["Licence", p.attribution || null],
    ];
  }

  /* an incident: its state and reports; a coordinator who entered a token gets the actions */
  var INCIDENT_COLORS = {
    unverified: "#9e9e9e", corroborated: "#f9a825", verified: "#c62828", dismissed: "#546e7a",
    duplicate: "#bdbdbd", resolved: "#2e7d32",
  };
  var TOKEN_KEY = "cop-coordinator-token";

  function incidentPopup(feature) {
    var p = props(feature);
    var id = featureId(feature);
    var box = popupShell(p.title || humanize(p.category || "incident"), INCIDENT_COLORS[p.status] || "#6a1b9a",
                         "Incident · " + humanize(p.status || "unverified"));
    addRows(box, [
      ["Reports", p.report_count],
      ["Reporters", p.reporters],
      timeRow("First seen", p.first_seen),
      timeRow("Last seen", p.last_seen),
      ["Claimed", p.claimed ? "yes" : null],
      ["Merged into", p.merged_into],
      ["ID", id],
    ]);
    var actions = el("div", "cop-incident-actions");
    var result = el("p", "cop-incident-result");
    box.appendChild(actions);
    box.appendChild(result);
    var token = null;
    try { token = window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { token = null; }
    if (!token) {
      var input = el("input", "cop-token-input");
      input.type = "password";
      input.placeholder = "coordinator token";
      var use = el("button", "cop-action cop-action-token", "Use token");
      use.type = "button";
      use.addEventListener("click", function () {
        try { window.sessionStorage.setItem(TOKEN_KEY, input.value.trim()); } catch (e) { /* private mode */ }
        result.textContent = "Token set: reopen the popup for the actions.";
      });
      actions.appendChild(input);
      actions.appendChild(use);
      return box;
    }
    function act(action, body) {
      result.textContent = "Sending…";
      fetch("/api/v1/incidents/" + encodeURIComponent(id) + "/" + action, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token },
        body: JSON.stringify(body || {}),
      }).then(function (r) {
        return r.json().then(function (doc) {
          result.textContent = r.ok ? capitalise(action) + ": accepted" : (doc.detail || ("error " + r.status));
          result.dataset.status = String(r.status);
        });
      }).catch(function (e) { result.textContent = "failed: " + e; });
    }
    function button(label, action, makeBody) {
      var b = el("button", "cop-action cop-action-" + action, label);
      b.type = "button";
      b.addEventListener("click", function () {
        var body = makeBody ? makeBody() : {};
        if (body !== null) act(action, body);
      });
      actions.appendChild(b);
    }
    var reason = el("input", "cop-reason-input");
    reason.placeholder = "reason (dismiss)";
    var note = el("input", "cop-note-input");
    note.placeholder = "note";
    button("Verify", "verify");
    button("Claim", "claim");
    button("Release", "release");
    button("Resolve", "resolve");
    button("Reopen", "reopen");
    button("Dismiss", "dismiss", function () {
      if (!reason.value.trim()) { result.textContent = "Dismiss: give a reason"; return null; }
      return { reason: reason.value.trim() };
    });
    button("Note", "note", function () {
      if (!note.value.trim()) { result.textContent = "Note: write the note first"; return null; }
      return { text: note.value.trim() };
    });
    if (state.mergeFrom && state.mergeFrom !== id) {
      var from = state.mergeFrom;
      var here = el("button", "cop-action cop-action-merge-here", "Merge " + from + " here");
      here.type = "button";
      here.addEventListener("click", function () {
        var into = id;
        id = from;  // the action is on the incident merged away, into this one
        act("merge", { target: into });
        id = into;
        state.mergeFrom = null;
      });
      actions.appendChild(here);
    } else {
      var merge = el("button", "cop-action cop-action-merge", "Merge…");
      merge.type = "button";
      merge.addEventListener("click", function () {
        state.mergeFrom = id;
        result.textContent = "Now open the incident to merge this one into.";
      });
      actions.appendChild(merge);
    }
    actions.appendChild(reason);
    actions.appendChild(note);
    var ids = Array.isArray(p.report_ids) ? p.report_ids : [];
    if (ids.length > 1) {  /* split: tick the reports that are another incident, then split them off */
      var split = el("details", "cop-split");
      split.appendChild(el("summary", null, "Split reports off…"));
      var picks = el("div", "cop-split-reports");
      ids.forEach(function (rid) {
        var row = el("label", "cop-split-report");
        var tick = el("input");
        tick.type = "checkbox";
        tick.value = String(rid);
        row.appendChild(tick);
        row.appendChild(el("span", null, " " + rid));
        picks.appendChild(row);
      });
      split.appendChild(picks);
      var go = el("button", "cop-action cop-action-split", "Split off");
      go.type = "button";
      go.addEventListener("click", function () {
        var chosen = Array.prototype.slice.call(picks.querySelectorAll("input:checked"))
          .map(function (t) { return t.value; });
        if (!chosen.length) { result.textContent = "Split: tick the reports to split off"; return; }
        if (chosen.length >= ids.length) { result.textContent = "Split: leave at least one report"; return; }
        act("split", { reports: chosen });
      });
      split.appendChild(go);
      actions.appendChild(split);
      /* what each report is: fetched once the list is opened (text is public; contacts never are) */
      split.addEventListener("toggle", function () {
        if (!split.open || picks.dataset.loaded) return;
        picks.dataset.loaded = "1";
        fetch("/api/v1/incidents/" + encodeURIComponent(id)).then(function (r) { return r.ok ? r.json() : null; })
          .then(function (doc) {
            if (!doc || !Array.isArray(doc.reports)) return;
            var byId = {};
            doc.reports.forEach(function (f) { byId[featureId(f)] = props(f); });
            picks.querySelectorAll(".cop-split-report").forEach(function (row) {
              var rp = byId[row.querySelector("input").value];
              if (!rp) return;
              var label = [humanize(rp.category || ""), rp.text || ""].filter(Boolean).join(": ");
              if (label) row.querySelector("span").textContent = " " + label;
            });
          }).catch(function () { /* the ids stay */ });
      });
    }
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

  /* a closure (or any line): road, cross streets, length, agency, reason and its time span */
  function linePopup(feature, layer) {
    var p = props(feature);
    var heading = p.category ? capitalise(humanize(p.category)) : layer.title;
    var box = popupShell(heading, layer.color, p.agency || null);
    var road = p.road || p.road_name || p.location_text;
    addText(box, road, "cop-popup-text cop-popup-strong");
    var between = p.from && p.to ? p.from + " – " + p.to : (p.from || p.to || null);
    addRows(box, [
      ["Road", road],
      ["Between", between],
      ["Length", formatLength(p.length_m)],
      ["Agency", p.agency],
      ["Reason", p.reason || (p.text !== p.reason ? p.text : null)],
      timeRow("From", p.start),
      timeRow("Until", p.end),
      timeRow("Reported", p.observed_at),
      ["Source", p.source_type ? humanize(p.source_type) : null],
      ["ID", featureId(feature)],
    ]);
    if (p.text && p.text !== p.reason) addText(box, p.text);
    return box;
  }

  function isCancelled(p) {
    return p.state === "cancelled";
  }

  function isExpired(p) {
    var d = parseTime(p.expires);
    return d !== null && d.getTime() < Date.now();
  }

  function tierStyle(p, layer) {
    return TIER_STYLES[p.tier] || { label: p.tier ? capitalise(humanize(p.tier)) : layer.title, hex: layer.color };
  }

  /* an alert's texts in the reader's language: the first of navigator.languages whose primary subtag matches a
     translation (properties.translations, by BCP 47 tag), else the alert's own (first) language */
  function readerTexts(p) {
    var translations = p.translations || {};
    var wanted = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language || ""];
    var own = String(p.language || "en").toLowerCase().split("-")[0];
    for (var i = 0; i < wanted.length; i++) {
      var primary = String(wanted[i] || "").toLowerCase().split("-")[0];
      if (!primary || primary === own) return p;
      for (var tag in translations) {
        if (Object.prototype.hasOwnProperty.call(translations, tag) && tag.toLowerCase().split("-")[0] === primary) {
          return Object.assign({}, p, translations[tag], { language: tag });
        }
      }
    }
    return p;
  }

  /* one alert (or any area): headline once, description, instruction, CAP XML link, tier, times */
  function areaPopup(feature, layer) {
    var p = readerTexts(props(feature));
    var tier = tierStyle(p, layer);
    var status = isCancelled(p) ? "Cancelled at " + formatTime(p.cancelled_at)
      : isExpired(p) ? "Expired" : (p.kind === "alert" ? "Active alert" : null);
    var box = popupShell(p.headline || p.event || tier.label, isCancelled(p) ? CANCELLED_STYLE.color : tier.hex,
      status);
    box.classList.add("cop-area-entry");
    if (p.language) box.setAttribute("lang", p.language);
    box.setAttribute("data-cop-id", featureId(feature) || "");
    if (isCancelled(p)) box.classList.add("cop-cancelled");
    addText(box, p.description, "cop-popup-text cop-popup-description");
    addText(box, p.instruction, "cop-popup-text cop-popup-instruction");
    if (!p.headline && p.text) addText(box, p.text);
    addRows(box, [
      ["Tier", tier.label],
      ["Event", p.event],
      ["Area", p.area_desc],
      timeRow("Issued", p.sent || p.observed_at),
      timeRow("Expires", p.expires),
      ["ID", featureId(feature)],
    ]);
    // the CAP message: properties.cap_url, else the alert's own read route ({layer.path}/{id}.xml)
    var cap = p.cap_url || (p.kind === "alert" ? layer.path + "/" + encodeURIComponent(featureId(feature)) + ".xml"
      : null);
    if (cap) addLink(box, "CAP XML", cap);
    return box;
  }

  /* every area covering a point, one entry each, the one drawn on top first */
  function areaListPopup(entries) {
    var list = el("div", "cop-area-list");
    if (entries.length > 1) {
      list.appendChild(el("div", "cop-area-list-head", entries.length + " alerts cover this point"));
    }
    entries.forEach(function (entry) { list.appendChild(areaPopup(entry.feature, entry.layerConfig)); });
    return list;
  }

  /* ---------- area geometry (GeoJSON, WGS 84 [lon, lat]; planar in degrees: for hit tests and ordering) ---------- */

  function ringContains(ring, x, y) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  function polygonContains(rings, x, y) {
    if (!rings || !rings.length || !ringContains(rings[0], x, y)) return false;
    for (var k = 1; k < rings.length; k++) if (ringContains(rings[k], x, y)) return false;
    return true;
  }

  /* whether a GeoJSON (Multi)Polygon covers the point lon x, lat y (degrees) */
  function geometryContains(geometry, x, y) {
    if (!geometry) return false;
    if (geometry.type === "Polygon") return polygonContains(geometry.coordinates, x, y);
    if (geometry.type === "MultiPolygon") {
      return (geometry.coordinates || []).some(function (rings) { return polygonContains(rings, x, y); });
    }
    if (geometry.type === "GeometryCollection") {
      return (geometry.geometries || []).some(function (g) { return geometryContains(g, x, y); });
    }
    return false;
  }

  function ringArea(ring) {
    var sum = 0;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      sum += (ring[j][0] + ring[i][0]) * (ring[j][1] - ring[i][1]);
    }
    return Math.abs(sum) / 2;
  }

  function polygonArea(rings) {
    if (!rings || !rings.length) return 0;
    var area = ringArea(rings[0]);
    for (var k = 1; k < rings.length; k++) area -= ringArea(rings[k]);
    var lat = rings[0].length ? rings[0][0][1] : 0;
    return area * Math.cos((lat * Math.PI) / 180);
  }

  /* approximate area in square degrees of latitude (longitude scaled by cos(lat)): an ordering key */
  function geometryArea(geometry) {
    if (!geometry) return 0;
    if (geometry.type === "Polygon") return polygonArea(geometry.coordinates);
    if (geometry.type === "MultiPolygon") {
      return (geometry.coordinates || []).reduce(function (s, rings) { return s + polygonArea(rings); }, 0);
    }
    if (geometry.type === "GeometryCollection") {
      return (geometry.geometries || []).reduce(function (s, g) { return s + geometryArea(g); }, 0);
    }
    return 0;
  }

  function tierIndex(p) {
    var i = TIER_ORDER.indexOf(p.tier);
    return i < 0 ? TIER_ORDER.length : i;
  }

  /* priority of two areas, on top first: higher layer z, active before cancelled, higher tier, smaller */
  function compareAreas(a, b) {
    var pa = props(a.feature), pb = props(b.feature);
    return (b.layerConfig.z - a.layerConfig.z)
      || ((isCancelled(pa) ? 1 : 0) - (isCancelled(pb) ? 1 : 0))
      || (tierIndex(pa) - tierIndex(pb))
      || (a.area - b.area);
  }

  /* ---------- layer builders: Feature -> Leaflet layer (or null when not drawable) ---------- */

  function paneName(layer) {
    return "cop-pane-" + layer.name;
  }

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

  function buildMarker(feature, id, layer) {
    var latlng = pointLatLng(feature.geometry);
    if (!latlng) return null;
    var p = props(feature);
    var style = CATEGORY_STYLES[p.category];
    var approximate = p.geo_precision === "place" || p.geo_precision === "region";
    var marker;
    if (p.kind === "incident") {  /* colour by status, size by report count */
      marker = L.circleMarker(latlng, {
        radius: Math.min(18, 6 + 2 * Math.sqrt(Number(p.report_count) || 1)), color: "#ffffff", weight: 2,
        fillColor: INCIDENT_COLORS[p.status] || layer.color, fillOpacity: 0.85, pane: paneName(layer), copId: id,
      });
    } else if (style && L.AwesomeMarkers) {
      marker = L.marker(latlng, {
        icon: L.AwesomeMarkers.icon({
          icon: style.icon, prefix: "fa", markerColor: style.marker, iconColor: "white",
        }),
        title: style.label,
        opacity: approximate ? 0.7 : 1,
        pane: paneName(layer),
        copId: id,
      });
    } else {
      marker = L.circleMarker(latlng, {
        radius: 7, color: "#ffffff", weight: 1.5, fillColor: style ? style.hex : layer.color,
        fillOpacity: approximate ? 0.6 : 0.9, pane: paneName(layer), copId: id,
      });
    }
    marker.bindPopup(function () { return p.kind === "incident" ? incidentPopup(feature) : reportPopup(feature); },
                     { maxWidth: 320 });
    return marker;
  }

  function buildLine(feature, id, layer) {
    if (!feature.geometry) return null;
    var pane = paneName(layer);
    var casing = L.geoJSON(feature, {
      pane: pane, interactive: false,
      style: function () { return { color: "#ffffff", weight: 9, opacity: 0.75, lineCap: "butt" }; },
      pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { pane: pane, radius: 8 }); },
    });
    var line = L.geoJSON(feature, {
      pane: pane,
      style: function () {
        return { color: layer.color, weight: 5, opacity: 0.95, dashArray: "10 7", lineCap: "butt" };
      },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, { pane: pane, radius: 6, fillOpacity: 0.9 });
      },
    });
    var group = L.featureGroup([casing, line], { copId: id });
    group.bindPopup(function () { return linePopup(feature, layer); }, { maxWidth: 320 });
    return group;
  }

  function areaStyle(feature, layer) {
    var p = props(feature);
    if (isCancelled(p)) return CANCELLED_STYLE;
    var hex = tierStyle(p, layer).hex;
    var expired = isExpired(p);
    return {
      color: hex, weight: 2, opacity: expired ? 0.5 : 0.9, fill: true,
      fillColor: hex, fillOpacity: expired ? 0.05 : 0.18, dashArray: expired ? "4 6" : null,
    };
  }

  /* areas have no popup of their own: a click lists every area covering the point (openAreasAt) */
  function buildArea(feature, id, layer) {
    if (!feature.geometry) return null;
    var drawn = L.geoJSON(feature, {
      pane: paneName(layer),
      copId: id,
      className: isCancelled(props(feature)) ? "cop-area cop-area-cancelled" : "cop-area",
      style: function () { return areaStyle(feature, layer); },
    });
    drawn.copArea = geometryArea(feature.geometry);
    drawn.on("click", function (e) {
      L.DomEvent.stopPropagation(e);
      openAreasAt(e.latlng);
    });
    return drawn;
  }

  var BUILDERS = { markers: buildMarker, lines: buildLine, areas: buildArea };

  function build(layerConfig, feature, id) {
    var builder = BUILDERS[layerConfig.draw] || buildMarker;
    var drawn;
    try {
      drawn = builder(feature, id, layerConfig);
    } catch (e) {
      console.warn("cop: cannot draw feature", layerConfig.name, id, e);
      return null;
    }
    if (drawn) {
      drawn.options.copId = id;
      drawn.feature = feature;
    }
    return drawn;
  }

  /* ---------- applying features and changes (by seq) ---------- */

  function sameFeature(drawn, feature) {
    try {
      return JSON.stringify(drawn.feature) === JSON.stringify(feature);
    } catch (e) {
      return false;
    }
  }

  /* whether a state with `seq` of item `id` is newer than what is held (no seq: always) */
  function isNewer(name, id, seq) {
    var held = state.seqs[name].get(id);
    return !(isSeq(seq) && isSeq(held) && seq <= held);
  }

  function hold(name, id, seq) {
    if (isSeq(seq)) state.seqs[name].set(id, seq);
  }

  function featureSeq(feature) {
    var seq = props(feature).seq;
    return isSeq(seq) ? seq : null;
  }

  /* Draw the newer of `items` ([{feature, seq}]) in layer `name`, adding to the group in one batch. */
  function drawFeatures(name, items) {
    var layerConfig = state.byName[name];
    var index = window.copLayers[name];
    var group = state.groups[name];
    var toAdd = [];
    var toRemove = [];
    var reopen = null;
    items.forEach(function (item) {
      var id = featureId(item.feature);
      if (id === null || !isNewer(name, id, item.seq)) return;
      hold(name, id, item.seq);
      var old = index.get(id);
      if (old && sameFeature(old, item.feature)) return;
      if (old) {
        if (layerConfig.draw !== "areas" && old.isPopupOpen && old.isPopupOpen()) {
          reopen = { id: id, at: old.getPopup().getLatLng() };
        }
        toRemove.push(old);
        index.delete(id);
      }
      var drawn = build(layerConfig, item.feature, id);
      if (drawn) {
        index.set(id, drawn);
        toAdd.push(drawn);
      }
    });
    if (toRemove.length) {
      if (group.removeLayers) group.removeLayers(toRemove);
      else toRemove.forEach(function (l) { group.removeLayer(l); });
    }
    if (toAdd.length) {
      if (group.addLayers) group.addLayers(toAdd);
      else toAdd.forEach(function (l) { group.addLayer(l); });
    }
    if (reopen && index.get(reopen.id)) {
      try {
        index.get(reopen.id).openPopup(layerConfig.draw === "markers" ? undefined : reopen.at);
      } catch (e) { /* marker is inside a cluster: leave the popup closed */ }
    }
    if (layerConfig.draw === "areas" && (toAdd.length || toRemove.length)) areasChanged(name);
  }

  function removeItem(name, id, seq) {
    if (!isNewer(name, id, seq)) return;
    hold(name, id, seq);
    var index = window.copLayers[name];
    var old = index.get(id);
    if (!old) return;
    state.groups[name].removeLayer(old);
    index.delete(id);
    if (state.byName[name].draw === "areas") areasChanged(name);
  }

  function applyChange(msg) {
    if (msg.type === "upsert") {
      drawFeatures(msg.layer, [{ feature: msg.feature, seq: isSeq(msg.seq) ? msg.seq : featureSeq(msg.feature) }]);
    } else {
      removeItem(msg.layer, String(msg.id), isSeq(msg.seq) ? msg.seq : null);
    }
  }

  /* A layer's snapshot: its figures, then its features, then the changes buffered meanwhile. */
  function applySnapshot(name, collection) {
    var features = (collection && Array.isArray(collection.features)) ? collection.features : [];
    var count = function (value) { return isSeq(value) ? value : features.length; };
    state.meta[name] = {
      total: count(collection && collection.total),
      returned: count(collection && collection.returned),
      truncated: !!(collection && collection.truncated === true),
    };
    if (collection && isSeq(collection.seq)) state.snapSeq[name] = collection.seq;
    drawFeatures(name, features.map(function (f) { return { feature: f, seq: featureSeq(f) }; }));
    state.synced[name] = true;
    var buffered = state.buffer[name];
    state.buffer[name] = [];
    buffered.forEach(applyChange);
  }

  /* Forget the whole picture (hello.reset: the server's sequence is not ours). */
  function dropPicture() {
    state.layers.forEach(function (layer) {
      state.groups[layer.name].clearLayers();
      window.copLayers[layer.name].clear();
      state.seqs[layer.name] = new Map();
      state.synced[layer.name] = false;
      state.buffer[layer.name] = [];
      delete state.meta[layer.name];
      delete state.snapSeq[layer.name];
    });
    state.streamSeq = null;
    state.snapshotGen++;
    state.snapshotting = false;
    if (state.areaPopup) state.map.closePopup(state.areaPopup);
    refreshPanel();
  }

  /* The highest seq up to which the page holds every change: where a reconnect resumes. */
  function maxSeq() {
    if (state.streamSeq !== null) return state.streamSeq;
    var seqs = state.layers.map(function (l) { return state.snapSeq[l.name]; });
    if (!seqs.length || !seqs.every(isSeq)) return null;
    return Math.min.apply(null, seqs);
  }

  /* ---------- overlapping areas: drawing order and the click list ---------- */

  function areaEntries(name) {
    var layerConfig = state.byName[name];
    var entries = [];
    window.copLayers[name].forEach(function (drawn, id) {
      entries.push({ id: id, feature: drawn.feature, layerConfig: layerConfig, area: drawn.copArea || 0, drawn: drawn });
    });
    return entries;
  }

  /* smaller and higher-priority areas on top: bring each to front, lowest priority first */
  function orderAreas(name) {
    var entries = areaEntries(name).sort(compareAreas);
    for (var i = entries.length - 1; i >= 0; i--) {
      try { entries[i].drawn.bringToFront(); } catch (e) { /* not on the map (layer hidden) */ }
    }
  }

  function areasChanged(name) {
    orderAreas(name);
    if (state.areaPopup && state.map.hasLayer(state.areaPopup)) openAreasAt(state.areaPopup.getLatLng(), true);
  }

  /* every area of a visible areas layer covering `latlng`, on top first */
  function areasAt(latlng) {
    var found = [];
    state.layers.forEach(function (layer) {
      if (layer.draw !== "areas" || !state.map.hasLayer(state.groups[layer.name])) return;
      areaEntries(layer.name).forEach(function (entry) {
        if (geometryContains(entry.feature.geometry, latlng.lng, latlng.lat)) found.push(entry);
      });
    });
    return found.sort(compareAreas);
  }

  function openAreasAt(latlng, refresh) {
    var entries = areasAt(latlng);
    if (!entries.length) {
      if (refresh && state.areaPopup) state.map.closePopup(state.areaPopup);
      return;
    }
    if (!state.areaPopup) state.areaPopup = L.popup({ maxWidth: 340, className: "cop-area-popup" });
    state.areaPopup.setLatLng(latlng).setContent(areaListPopup(entries));
    if (!state.map.hasLayer(state.areaPopup)) state.areaPopup.openOn(state.map);
  }

  /* ---------- snapshots ---------- */

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

  function snapshotUrl(layer) {
    return layer.path + (layer.path.indexOf("?") < 0 ? "?" : "&") + "limit=" + encodeURIComponent(layer.limit);
  }

  /* Snapshot every layer (the socket is open first, so changes made meanwhile are buffered). */
  function startSnapshot() {
    var gen = ++state.snapshotGen;
    state.snapshotting = true;
    state.snapshotSubscribed = state.helloSeen;
    state.layers.forEach(function (layer) {
      state.synced[layer.name] = false;
      state.fetchRetry[layer.name] = 0;
    });
    state.layers.forEach(function (layer) { loadLayer(layer, gen); });
  }

  function loadLayer(layer, gen) {
    fetchJson(snapshotUrl(layer)).then(function (collection) {
      if (gen !== state.snapshotGen) return; // a newer snapshot superseded this one
      applySnapshot(layer.name, collection);
      clearError(layer.name);
      if (state.layers.every(function (l) { return state.synced[l.name]; })) state.snapshotting = false;
      markUpdated();
    }).catch(function (err) {
      if (gen !== state.snapshotGen) return;
      showError(layer.name, "Could not load " + layer.title.toLowerCase());
      console.warn("cop:", err);
      var delay = Math.min(60000, 2000 * Math.pow(2, state.fetchRetry[layer.name]++));
      setTimeout(function () { if (gen === state.snapshotGen) loadLayer(layer, gen); }, delay);
    });
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
        pane: STREETS_PANE,
        interactive: false,
        renderer: L.canvas({ pane: STREETS_PANE, padding: 0.5 }),
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

  /* ---------- the change stream (WebSocket) ---------- */

  var HELLO_WAIT_MS = 1500; // a server that sends no hello: show the picture anyway

  function wsUrl(after) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var path = state.config.ws_path;
    if (after !== null) path += (path.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(after);
    return scheme + window.location.host + path;
  }

  function layersWaiting() {
    return state.layers.some(function (l) { return !state.synced[l.name]; });
  }

  function connect() {
    state.reconnectTimer = null;
    if (state.held || state.ws) return;
    var after = maxSeq();
    setStatus(state.everOpen ? "reconnecting" : "connecting");
    var url = wsUrl(after);
    var ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    state.wsAfter = after;
    state.helloSeen = false;
    state.urls.push(url);
    ws.onopen = function () {
      if (state.ws !== ws) return;
      state.everOpen = true;
      state.attempt = 0;
      setTimeout(function () {
        if (state.ws !== ws || state.helloSeen) return;
        setStatus("live");
        if (layersWaiting() && !state.snapshotting) startSnapshot();
      }, HELLO_WAIT_MS);
    };
    ws.onmessage = function (event) {
      if (state.ws === ws) handleMessage(ws, event.data);
    };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      state.ws = null;
      state.helloSeen = false;
      setStatus("reconnecting");
      scheduleReconnect();
    };
    ws.onerror = function () { /* a close event follows */ };
  }

  function scheduleReconnect() {
    if (state.reconnectTimer !== null || state.held) return;
    var ceiling = Math.min(30000, 1000 * Math.pow(2, state.attempt++));
    var delay = ceiling / 2 + Math.random() * (ceiling / 2);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (state.ws || state.held || state.reconnectTimer === null) return;
    clearTimeout(state.reconnectTimer);
    state.attempt = 0;
    connect();
  }

  /* close the socket and keep it closed until resume() (for tests and a manual "pause") */
  function disconnect() {
    state.held = true;
    if (state.reconnectTimer !== null) clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    var ws = state.ws;
    state.ws = null;
    state.helloSeen = false;
    if (ws) ws.close();
    setStatus("offline");
  }

  function resume() {
    state.held = false;
    state.attempt = 0;
    connect();
  }

  function handleHello(ws, msg) {
    state.helloSeen = true;
    setStatus("live");
    if (msg.reset === true) {
      // our seq is ahead of the server's: another store or a rebuilt picture; start again from nothing
      dropPicture();
      state.ws = null;
      ws.close();
      connect();
      return;
    }
    if (isSeq(msg.seq)) {
      if (state.wsAfter === null) state.streamSeq = msg.seq; // live from head on
      else if (state.streamSeq === null) state.streamSeq = state.wsAfter; // resumed after the snapshots
    }
    if (!state.snapshotting && layersWaiting()) startSnapshot();
    else if (state.snapshotting && !state.snapshotSubscribed && state.wsAfter === null) {
      startSnapshot(); // that snapshot began before this subscription: changes in between may be lost
    }
  }

  function handleMessage(ws, data) {
    var msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "hello") {
      handleHello(ws, msg);
      return;
    }
    if (!Object.prototype.hasOwnProperty.call(state.byName, msg.layer)) return;
    if (msg.type === "upsert") {
      if (!msg.feature || typeof msg.feature !== "object" || featureId(msg.feature) === null) return;
    } else if (msg.type === "remove") {
      if (typeof msg.id !== "string" && typeof msg.id !== "number") return;
    } else {
      return;
    }
    if (isSeq(msg.seq)) state.streamSeq = state.streamSeq === null ? msg.seq : Math.max(state.streamSeq, msg.seq);
    if (state.synced[msg.layer]) {
      applyChange(msg);
      markUpdated();
    } else {
      state.buffer[msg.layer].push(msg);
    }
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

  /* "showing 5,000 newest of 6,067" when a layer's snapshot was cut, else "" */
  function truncationText(name) {
    var meta = state.meta[name];
    if (!meta || !meta.truncated) return "";
    return "showing " + formatCount(meta.returned) + " newest of " + formatCount(meta.total);
  }

  function refreshPanel() {
    state.layers.forEach(function (layer) {
      var node = document.getElementById("cop-count-" + layer.name);
      if (node) node.textContent = formatCount(window.copLayers[layer.name].size);
      var note = document.getElementById("cop-truncated-" + layer.name);
      if (note) {
        note.textContent = truncationText(layer.name);
        note.parentNode.hidden = note.textContent === "";
      }
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
    state.layers.forEach(function (layer) {
      var row = el("tr");
      row.appendChild(el("th", null, layer.title));
      var cell = el("td", null, "0");
      cell.id = "cop-count-" + layer.name;
      row.appendChild(cell);
      table.appendChild(row);
      var noteRow = el("tr", "cop-truncated-row");
      noteRow.hidden = true;
      var note = el("td", "cop-truncated");
      note.colSpan = 2;
      note.id = "cop-truncated-" + layer.name;
      noteRow.appendChild(note);
      table.appendChild(noteRow);
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

  function layerSwatch(layer) {
    var swatch = el("span", "cop-swatch cop-swatch-" + layer.draw);
    if (layer.draw === "markers") swatch.style.background = layer.color;
    else if (layer.draw === "lines") swatch.style.borderTopColor = layer.color;
    else {
      swatch.style.borderColor = layer.color;
      swatch.style.backgroundColor = layer.color + "40";
    }
    return swatch;
  }

  function buildLegend() {
    var details = el("details", "cop-panel cop-legend");
    details.id = "cop-legend";
    details.open = window.innerHeight >= 640 && window.innerWidth >= 640;
    details.appendChild(el("summary", null, "Legend"));
    details.appendChild(el("div", "cop-legend-title", "Layers"));
    state.layers.forEach(function (layer) {
      var item = legendItem(layerSwatch(layer), layer.title);
      item.setAttribute("data-layer", layer.name);
      details.appendChild(item);
    });
    var zoomNote = el("div", "cop-legend-zoom");
    zoomNote.id = "cop-zoom-note";
    details.appendChild(zoomNote);
    details.appendChild(el("div", "cop-legend-title", "Report categories"));
    Object.keys(CATEGORY_STYLES).forEach(function (category) {
      var style = CATEGORY_STYLES[category];
      var swatch = el("span", "cop-swatch cop-swatch-marker");
      swatch.style.background = style.hex;
      swatch.appendChild(el("i", "fa fa-" + style.icon));
      details.appendChild(legendItem(swatch, style.label));
    });
    details.appendChild(el("div", "cop-legend-title", "Alert tiers (top to bottom)"));
    TIER_ORDER.forEach(function (tier) {
      var swatch = el("span", "cop-swatch cop-swatch-areas");
      swatch.style.borderColor = TIER_STYLES[tier].hex;
      swatch.style.backgroundColor = TIER_STYLES[tier].hex + "40";
      details.appendChild(legendItem(swatch, TIER_STYLES[tier].label));
    });
    details.appendChild(legendItem(el("span", "cop-swatch cop-swatch-areas cop-swatch-cancelled"), "Cancelled"));
    return details;
  }

  /* ---------- low zoom: incidents replace the raw reports ---------- */

  function zoomedOut(layer) {
    return isSeq(layer.min_zoom) && state.map.getZoom() < layer.min_zoom;
  }

  /* Draw or hide each layer with a min_zoom for the current zoom, and say in the legend what is drawn. */
  function applyZoom() {
    var hidden = [];
    state.layers.forEach(function (layer) {
      if (!isSeq(layer.min_zoom)) return;
      var group = state.groups[layer.name];
      var off = zoomedOut(layer);
      if (off) hidden.push(layer);
      state.zooming = true;  /* the layer control reports our own add/remove as overlayadd/overlayremove too */
      try {
        if (off && state.map.hasLayer(group)) state.map.removeLayer(group);
        else if (!off && !state.userOff[layer.name] && !state.map.hasLayer(group)) state.map.addLayer(group);
      } finally {
        state.zooming = false;
      }
      var item = document.querySelector('#cop-legend [data-layer="' + layer.name + '"]');
      if (item) {
        item.classList.toggle("cop-legend-off", off);
        item.dataset.hidden = off ? "zoom" : "";
        item.title = off ? "zoom in to level " + layer.min_zoom + " to see them" : "";
      }
    });
    var note = document.getElementById("cop-zoom-note");
    if (note) {
      note.textContent = hidden.length
        ? "Zoomed out: " + hidden.map(function (l) { return l.title.toLowerCase(); }).join(", ")
          + " hidden, incidents shown (zoom in to level " + hidden[0].min_zoom + " to see them)"
        : "Reports and incidents shown";
      note.dataset.hidden = hidden.map(function (l) { return l.name; }).join(" ");
    }
  }

  /* ---------- start-up ---------- */

  function ensurePane(map, name, zIndex, interactive) {
    var pane = map.getPane(name) || map.createPane(name);
    pane.style.zIndex = String(zIndex);
    if (!interactive) pane.style.pointerEvents = "none";
  }

  function findGroup(name) {
    var group = name ? window[name] : null;
    return group && typeof group.addLayer === "function" ? group : null;
  }

  function setUpLayers() {
    var vars = state.config.layer_vars || {};
    var missing = {};
    ensurePane(state.map, STREETS_PANE, 250, false);
    state.layers.forEach(function (layer) {
      var z = Math.max(0, Math.min(99, Number(layer.z) || 0));
      ensurePane(state.map, paneName(layer), (PANE_BASE[layer.draw] || 400) + z, true);
      var group = findGroup(vars[layer.name]);
      if (!group) {
        group = layer.draw === "markers" && L.markerClusterGroup ? L.markerClusterGroup() : L.featureGroup();
        group.addTo(state.map);
        missing[layer.title] = group;
      }
      if (group.options && layer.draw === "markers") group.options.clusterPane = paneName(layer);
      if (layer.draw === "areas") group.on("add", function () { orderAreas(layer.name); });
      state.groups[layer.name] = group;
      state.byName[layer.name] = layer;
      state.seqs[layer.name] = new Map();
      state.synced[layer.name] = false;
      state.buffer[layer.name] = [];
      state.fetchRetry[layer.name] = 0;
      window.copLayers[layer.name] = new Map();
    });
    if (Object.keys(missing).length) L.control.layers(null, missing, { collapsed: false }).addTo(state.map);
  }

  function layerFigures() {
    var figures = {};
    state.layers.forEach(function (layer) {
      var meta = state.meta[layer.name] || {};
      figures[layer.name] = {
        drawn: window.copLayers[layer.name].size,
        synced: !!state.synced[layer.name],
        truncated: !!meta.truncated,
        total: isSeq(meta.total) ? meta.total : null,
        returned: isSeq(meta.returned) ? meta.returned : null,
        seq: isSeq(state.snapSeq[layer.name]) ? state.snapSeq[layer.name] : null,
        text: truncationText(layer.name),
      };
    });
    return figures;
  }

  function start() {
    var configNode = document.getElementById("cop-config");
    if (!configNode) {
      console.error("cop: #cop-config not found");
      return;
    }
    state.config = JSON.parse(configNode.textContent);
    state.layers = Array.isArray(state.config.layers) ? state.config.layers : [];
    var map = window[state.config.map_var];
    if (!map || typeof map.addLayer !== "function") {
      console.error("cop: map variable not found:", state.config.map_var);
      return;
    }
    state.map = map;
    if (!state.config.has_tiles) map.getContainer().classList.add("cop-no-tiles");
    setUpLayers();
    map.on("click", function (e) { openAreasAt(e.latlng); });

    if (state.config.base_layer_url) {
      var streets = findGroup((state.config.layer_vars || {}).streets);
      if (!streets) streets = L.featureGroup().addTo(map);
      loadStreets(streets, 0);
    }

    makeControl("bottomleft", buildStatusPanel).addTo(map);
    makeControl("bottomright", buildLegend).addTo(map);
    refreshPanel();
    map.on("overlayadd overlayremove", function (e) {  /* the coordinator's own choice in the layer control */
      if (state.zooming) return;
      state.layers.forEach(function (layer) {
        if (state.groups[layer.name] === e.layer) state.userOff[layer.name] = e.type === "overlayremove";
      });
    });
    map.on("zoomend", applyZoom);
    applyZoom();

    window.copLive = {
      get status() { return state.status; },
      get lastUpdate() { return state.lastUpdate; },
      get maxSeq() { return maxSeq(); },
      get layers() { return layerFigures(); },
      get socketUrls() { return state.urls.slice(); },
      get shown() {  /* the layers drawn now (on the map) */
        return state.layers.filter(function (l) { return map.hasLayer(state.groups[l.name]); })
          .map(function (l) { return l.name; });
      },
      openAreasAt: function (lat, lon) { openAreasAt(L.latLng(lat, lon)); },
      disconnect: disconnect,
      connect: resume,
    };

    connect();
    // If the socket does not open soon (or the server has none), show the picture anyway.
    setTimeout(function () {
      if (!state.helloSeen && !state.snapshotting && layersWaiting()) startSnapshot();
    }, HELLO_WAIT_MS);
    window.addEventListener("online", reconnectNow);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
