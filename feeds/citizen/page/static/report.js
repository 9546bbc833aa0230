/* The citizen report page: category, place (GPS, a typed place, the pin, or a photo's EXIF GPS), details, and an
 * outbox in IndexedDB that sends each report exactly once (its own Idempotency-Key), retried on load, on `online`
 * and on a timer; no Background Sync. Coordinates are WGS 84 degrees. Strings come from the config's catalogue. */
(function () {
  "use strict";

  var shared = window.citizenPage, CONFIG = shared.config, t = shared.t, el = shared.el;
  var RETRY_MS = 20000;
  var MAX_SIDE = 1600;      // px: photos are shrunk to at most this on their longest side, re-encoded as JPEG
  var JPEG_QUALITY = 0.85;

  var form = { category: null, where: null, placeText: "", hint: null };
  var photo = null;         // { blob, kb } once shrunk
  var map = null, pin = null;
  var dbPromise = null;
  var flushing = null;
  var retryTimer = null;

  // ------------------------------------------------------------------ the form

  function render() {
    var app = document.getElementById("app");
    app.textContent = "";
    document.documentElement.lang = shared.lang;
    document.title = t("title");
    var select = el("select", { id: "lang", "aria-label": t("language"), on: { change: function (e) {
      shared.setLanguage(e.target.value);
      render();
    } } }, CONFIG.languages.map(function (code) {
      return el("option", { value: code, selected: code === shared.lang ? "selected" : null,
                            text: { en: "English", es: "Español", ko: "한국어" }[code] || code });
    }));
    app.appendChild(el("header", {}, [el("h1", { text: t("title") }), select]));
    app.appendChild(el("p", { "class": "intro", text: t("intro") }));
    app.appendChild(el("p", { id: "offline", "class": "banner", hidden: navigator.onLine ? "hidden" : null,
                              text: t("offline") }));

    var SVG_NS = "http://www.w3.org/2000/svg";  // the namespace name of the inlined icons (never fetched)

    function icon(markup) {  // the vendored SVG the server inlined (feeds.citizen.page.service.icon_svg)
      var span = el("span", { "class": "icon", "aria-hidden": "true" });
      var svg = new DOMParser().parseFromString(markup.replace("<svg", "<svg xmlns=\"" + SVG_NS + "\""),
                                                "image/svg+xml").documentElement;
      if (svg && svg.nodeName === "svg") span.appendChild(document.importNode(svg, true));
      return span;
    }

    app.appendChild(el("h2", { text: t("step_what") }));
    app.appendChild(el("div", { "class": "categories", role: "group" }, CONFIG.categories.map(function (c) {
      return el("button", { type: "button", "data-category": c.value, "aria-pressed": String(form.category === c.value),
                            on: { click: function () { chooseCategory(c.value); } } },
                [icon(c.icon),
                 el("span", { text: t("cat_" + c.value) })]);
    })));

    app.appendChild(el("h2", { text: t("step_where") }));
    app.appendChild(el("button", { type: "button", id: "locate", "class": "secondary", text: t("use_location"),
                                   on: { click: useMyLocation } }));
    app.appendChild(el("p", { id: "where", "class": "where", "aria-live": "polite" }));
    app.appendChild(el("label", { "for": "place", text: t("place_label") }));
    app.appendChild(el("input", { id: "place", type: "search", autocomplete: "off", maxlength: "200",
                                  placeholder: t("place_placeholder"), value: form.placeText,
                                  on: { input: onPlaceInput } }));
    app.appendChild(el("ul", { id: "suggestions", "class": "suggestions" }));
    app.appendChild(el("div", { id: "map", role: "application" }));
    app.appendChild(el("p", { "class": "hint", text: t("pin_hint") }));
    app.appendChild(el("div", { id: "nearby", "aria-live": "polite" }));

    app.appendChild(el("h2", { text: t("step_details") }));
    app.appendChild(el("label", { "for": "text", text: t("text_label") }));
    app.appendChild(el("textarea", { id: "text", maxlength: "2000" }));
    app.appendChild(el("label", { "for": "photo", text: t("photo_label") }));
    app.appendChild(el("input", { id: "photo", type: "file", accept: "image/*", capture: "environment",
                                  on: { change: onPhoto } }));
    app.appendChild(el("p", { id: "photo-state", "class": "hint", "aria-live": "polite",
                              text: photo ? t("photo_ready", { kb: photo.kb }) : "" }));
    app.appendChild(el("label", { "for": "contact", text: t("contact_label") }));
    app.appendChild(el("input", { id: "contact", type: "text", autocomplete: "email", maxlength: "200" }));
    app.appendChild(el("p", { id: "form-error", "class": "error", role: "alert" }));
    app.appendChild(el("button", { type: "button", id: "send", "class": "primary", text: t("send"),
                                   on: { click: onSend } }));

    app.appendChild(el("h2", { text: t("outbox") }));
    app.appendChild(el("ul", { id: "outbox", "class": "outbox", "aria-live": "polite" }));
    setupMap();
    showWhere();
    showNearby();
    showOutbox();
    app.setAttribute("aria-busy", "false");
    if (!document.body.hasAttribute("data-ready") && performance.mark) performance.mark("report-ready");
    document.body.setAttribute("data-ready", "true");
  }

  function chooseCategory(value) {
    form.category = value;
    form.hint = null;
    document.querySelectorAll(".categories button").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-category") === value));
    });
    lookNearby();
  }

  function setWhere(where) {
    form.where = where;
    form.hint = null;
    if (map) {
      var ll = [where.lat, where.lon];
      if (!pin) {
        pin = L.marker(ll, { draggable: true, autoPan: true }).addTo(map);
        pin.on("dragend", function () {
          var p = pin.getLatLng();
          setWhere({ lat: p.lat, lon: p.lng, source: "pin" });
        });
      } else {
        pin.setLatLng(ll);
      }
      map.setView(ll, Math.max(map.getZoom(), 16));
    }
    showWhere();
    lookNearby();
  }

  function showWhere() {
    var node = document.getElementById("where");
    if (!node) return;
    var w = form.where;
    if (!w) { node.textContent = form.placeText ? form.placeText : t("where_none"); return; }
    var text = { gps: t("where_from_gps", { accuracy: Math.round(w.accuracy || 0) }),
                 photo: t("where_from_photo"), place: t("where_from_place", { label: w.label || "" }),
                 pin: t("where_from_pin") }[w.source];
    node.textContent = text + " — " + w.lat.toFixed(5) + ", " + w.lon.toFixed(5);
    node.setAttribute("data-source", w.source);
  }

  function setupMap() {
    if (typeof L === "undefined") return;
    map = L.map("map", { zoomControl: true }).setView(CONFIG.center, CONFIG.zoom);
    pin = null;
    if (CONFIG.tile_url) {
      L.tileLayer(CONFIG.tile_url, { attribution: CONFIG.tile_attribution || "", maxZoom: 19 }).addTo(map);
    }
    if (CONFIG.roads_url) {
      fetch(CONFIG.roads_url).then(function (r) { return r.ok ? r.json() : null; }).then(function (roads) {
        if (!roads || !map) return;
        L.geoJSON(roads, { interactive: false, renderer: L.canvas({ padding: 0.5 }),
                           style: { color: "#777", weight: 2, opacity: 0.8 },
                           filter: function (f) { return !!f.geometry && f.geometry.type !== "Point"; } }).addTo(map);
      }).catch(function () { /* offline and not cached yet: the pin still works */ });
    }
    map.on("click", function (e) { setWhere({ lat: e.latlng.lat, lon: e.latlng.lng, source: "pin" }); });
    if (form.where) setWhere(form.where);
  }

  function useMyLocation() {
    var node = document.getElementById("where");
    if (!navigator.geolocation) { node.textContent = t("location_denied", { reason: "—" }); return; }
    node.textContent = t("locating");
    navigator.geolocation.getCurrentPosition(function (pos) {
      setWhere({ lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy: pos.coords.accuracy, source: "gps" });
    }, function (err) {
      node.textContent = t("location_denied", { reason: err.message || err.code });
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  // ------------------------------------------------------------------ typed places: GET /api/v1/geocode

  var placeTimer = null;
  function onPlaceInput(e) {
    form.placeText = e.target.value;
    clearTimeout(placeTimer);
    placeTimer = setTimeout(function () { suggest(form.placeText); }, 250);
  }

  function suggest(q) {
    var list = document.getElementById("suggestions");
    list.textContent = "";
    if (!q.trim() || !navigator.onLine) return;
    fetch("/api/v1/geocode?limit=5&q=" + encodeURIComponent(q), { headers: { "Accept-Language": shared.lang } })
      .then(function (r) { return r.ok ? r.json() : { candidates: [] }; })
      .then(function (answer) {
        if (q !== form.placeText) return;
        list.textContent = "";
        if (!answer.candidates.length) { list.appendChild(el("li", { "class": "hint", text: t("no_suggestions") })); return; }
        answer.candidates.forEach(function (c) {
          list.appendChild(el("li", {}, [el("button", { type: "button", text: c.label, on: { click: function () {
            list.textContent = "";
            form.placeText = c.label;
            document.getElementById("place").value = c.label;
            setWhere({ lat: c.lat, lon: c.lon, source: "place", label: c.label });
          } } })]));
        });
      }).catch(function () { /* offline: the typed text is sent as the location text */ });
  }

  // ------------------------------------------------------------------ photo: EXIF GPS hint, then shrink

  function onPhoto(e) {
    var file = e.target.files && e.target.files[0];
    var state = document.getElementById("photo-state");
    photo = null;
    state.textContent = "";
    if (!file) return;
    var hint = (!form.where && typeof exifr !== "undefined")
      ? exifr.gps(file).catch(function () { return null; }) : Promise.resolve(null);
    hint.then(function (gps) {
      if (gps && isFinite(gps.latitude) && isFinite(gps.longitude) && !form.where) {
        setWhere({ lat: gps.latitude, lon: gps.longitude, source: "photo" });
      }
      return shrink(file);
    }).then(function (blob) {
      photo = { blob: blob, kb: Math.max(1, Math.round(blob.size / 1024)) };
      state.textContent = t("photo_ready", { kb: photo.kb });
    }).catch(function (err) {
      state.textContent = t("photo_failed", { reason: err && err.message ? err.message : String(err) });
    });
  }

  function shrink(file) {
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      if (bitmap.close) bitmap.close();
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (b) { b ? resolve(b) : reject(new Error("JPEG")); }, "image/jpeg", JPEG_QUALITY);
      });
    });
  }

  // ------------------------------------------------------------------ nearby incidents: "is it this?"

  function metres(lat1, lon1, lat2, lon2) {
    var k = Math.cos((lat1 + lat2) / 2 * Math.PI / 180) * 111320;
    return Math.hypot((lon2 - lon1) * k, (lat2 - lat1) * 110574);
  }

  var nearby = null;   // { feature, count } of the last look-up
  function lookNearby() {
    nearby = null;
    showNearby();
    if (!form.category || !form.where || !navigator.onLine) return;
    var c = CONFIG.categories.filter(function (x) { return x.value === form.category; })[0];
    var w = form.where, r = CONFIG.nearby_radius_m;
    var dlat = r / 110574, dlon = r / (111320 * Math.cos(w.lat * Math.PI / 180));
    var bbox = [w.lon - dlon, w.lat - dlat, w.lon + dlon, w.lat + dlat].map(function (v) { return v.toFixed(6); });
    var since = new Date(Date.now() - CONFIG.nearby_hours * 3600e3).toISOString();
    var asked = form.category + "|" + w.lat + "|" + w.lon;
    var url = "/api/v1/incidents?limit=50&bbox=" + bbox.join(",") + "&since=" + encodeURIComponent(since) +
      "&category=" + encodeURIComponent(c.family) + "&status=unverified&status=corroborated&status=verified";
    fetch(url).then(function (r) { return r.ok ? r.json() : { features: [] }; }).then(function (fc) {
      if (!form.where || asked !== form.category + "|" + form.where.lat + "|" + form.where.lon) return;
      var best = null;
      (fc.features || []).forEach(function (f) {
        if (!f.geometry || f.geometry.type !== "Point") return;
        var d = metres(w.lat, w.lon, f.geometry.coordinates[1], f.geometry.coordinates[0]);
        if (d > r) return;
        var count = f.properties.reporters || f.properties.report_count || 1;
        if (!best || count > best.count) best = { feature: f, count: count };
      });
      nearby = best;
      showNearby();
    }).catch(function () { /* offline: no suggestion */ });
  }

  function showNearby() {
    var node = document.getElementById("nearby");
    if (!node) return;
    node.textContent = "";
    if (!nearby) return;
    if (form.hint === nearby.feature.id) {
      node.appendChild(el("p", { "class": "nearby", text: t("nearby_added") }));
      return;
    }
    var key = nearby.count === 1 ? "nearby_one" : "nearby_many";
    var box = el("div", { "class": "nearby", "data-incident": nearby.feature.id }, [
      el("p", { text: t(key, { count: nearby.count, category: t("cat_" + form.category).toLowerCase(),
                               radius: CONFIG.nearby_radius_m }) }),
      el("div", { "class": "actions" }, [
        el("button", { type: "button", id: "nearby-yes", "class": "secondary", text: t("nearby_yes"),
                       on: { click: function () { form.hint = nearby.feature.id; showNearby(); } } }),
        el("button", { type: "button", id: "nearby-no", "class": "secondary", text: t("nearby_no"),
                       on: { click: function () { nearby = null; form.hint = null; showNearby(); } } }),
      ]),
    ]);
    node.appendChild(box);
  }

  // ------------------------------------------------------------------ sending: the outbox

  function db() {
    if (!dbPromise) {
      dbPromise = idb.openDB("citizen-reports", 1, { upgrade: function (d) {
        d.createObjectStore("outbox", { keyPath: "key" });
      } });
    }
    return dbPromise;
  }

  function newKey() {
    if (crypto.randomUUID) return "report-" + crypto.randomUUID();
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return "report-" + Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function onSend() {
    var error = document.getElementById("form-error");
    error.textContent = "";
    if (!form.category) { error.textContent = t("need_category"); return; }
    var placeText = (document.getElementById("place").value || "").trim();
    if (!form.where && !placeText) { error.textContent = t("need_location"); return; }
    var body = { category: form.category, text: document.getElementById("text").value.trim(),
                 observed_at: new Date().toISOString() };
    if (form.where) { body.lat = round(form.where.lat); body.lon = round(form.where.lon); }
    if (placeText) body.location_text = placeText;
    var contact = document.getElementById("contact").value.trim();
    if (contact) body.contact = contact;
    if (form.hint) body.incident_id = form.hint;
    var record = { key: newKey(), created: Date.now(), body: body, photo: photo ? photo.blob : null,
                   state: "queued", lang: shared.lang };
    db().then(function (d) { return d.put("outbox", record); }).then(function () {
      form = { category: null, where: null, placeText: "", hint: null };
      photo = null;
      nearby = null;
      render();
      flush();
    });
  }

  function round(v) { return Math.round(v * 1e7) / 1e7; }

  function flush() {
    if (flushing) return flushing;
    var run = function () {
      return db().then(function (d) { return d.getAll("outbox"); }).then(function (records) {
        var todo = records.filter(function (r) { return r.state === "queued" || r.state === "sending"; })
          .sort(function (a, b) { return a.created - b.created; });
        return todo.reduce(function (chain, r) {
          return chain.then(function (goOn) { return goOn ? sendOne(r) : false; });
        }, Promise.resolve(true));
      });
    };
    var locked = navigator.locks ? navigator.locks.request("citizen-outbox", run) : run();
    flushing = locked.catch(function () { return false; }).then(function (ok) {
      flushing = null;
      showOutbox();
      scheduleRetry();
      return ok;
    });
    return flushing;
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    db().then(function (d) { return d.getAll("outbox"); }).then(function (records) {
      if (records.some(function (r) { return r.state === "queued"; })) retryTimer = setTimeout(flush, RETRY_MS);
    });
  }

  function request(r) {
    var headers = { "Idempotency-Key": r.key, "Accept-Language": r.lang || shared.lang };
    if (r.photo) {
      var data = new FormData();
      data.append("report", JSON.stringify(r.body));
      data.append("photo", r.photo, "photo.jpg");
      return fetch("/api/v1/reports", { method: "POST", headers: headers, body: data });
    }
    headers["Content-Type"] = "application/json";
    return fetch("/api/v1/reports", { method: "POST", headers: headers, body: JSON.stringify(r.body) });
  }

  // One record: 202 -> sent (with its tracking link); another 4xx -> failed with the server's reason; no network,
  // 408, 429 or 5xx -> stays queued (the same key makes a later try the same report). Resolves whether to go on.
  function sendOne(r) {
    return save(r, { state: "sending" }).then(function () { return request(r); }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (response.status === 202 || response.status === 200) {
          return save(r, { state: "sent", id: answer.id, tracking_url: answer.tracking_url, photo: null }).then(yes);
        }
        if (response.status >= 400 && response.status < 500 && [408, 425, 429].indexOf(response.status) < 0) {
          return save(r, { state: "failed", reason: answer.detail || String(response.status) }).then(yes);
        }
        return save(r, { state: "queued" }).then(no);
      });
    }, function () { return save(r, { state: "queued" }).then(no); });
  }

  function yes() { showOutbox(); return true; }
  function no() { showOutbox(); return false; }

  function save(r, changes) {
    Object.keys(changes).forEach(function (k) { r[k] = changes[k]; });
    return db().then(function (d) { return d.put("outbox", r); });
  }

  function showOutbox() {
    var list = document.getElementById("outbox");
    if (!list) return;
    db().then(function (d) { return d.getAll("outbox"); }).then(function (records) {
      list.textContent = "";
      if (!records.length) { list.appendChild(el("li", { "class": "hint", text: t("outbox_empty") })); return; }
      records.sort(function (a, b) { return b.created - a.created; }).forEach(function (r) {
        var state = r.state === "failed" ? t("state_failed", { reason: r.reason || "" }) : t("state_" + r.state);
        var when = new Date(r.created).toLocaleString(shared.lang);
        var link = r.state === "sent" && r.tracking_url
          ? el("a", { href: r.tracking_url, "class": "track", text: t("track") }) : null;
        list.appendChild(el("li", { "data-state": r.state, "data-key": r.key, "data-id": r.id || null }, [
          el("strong", { text: t("cat_" + r.body.category) }), el("span", { text: " · " + when }),
          el("div", { "class": "state", text: state }), link]));
      });
    });
  }

  // ------------------------------------------------------------------ start

  window.addEventListener("online", function () {
    var b = document.getElementById("offline");
    if (b) b.hidden = true;
    flush();
  });
  window.addEventListener("offline", function () {
    var b = document.getElementById("offline");
    if (b) b.hidden = false;
  });
  if ("serviceWorker" in navigator && CONFIG.worker_url) {
    navigator.serviceWorker.register(CONFIG.worker_url, { scope: CONFIG.worker_scope }).catch(function (err) {
      console.warn("report page: service worker", err);
    });
  }
  render();
  flush();
  window.reportPage = { flush: flush, outbox: function () { return db().then(function (d) { return d.getAll("outbox"); }); } };
})();
