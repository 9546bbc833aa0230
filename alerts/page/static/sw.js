/*
 * The alerts page's service worker (scope /alerts). The server prepends ASSETS (every URL the page needs:
 * the page, its script and style, the vendored Leaflet and the region's streets) and VERSION.
 *  - install: precache ASSETS in the cache "alerts-page-<VERSION>"; activate: drop older caches;
 *  - fetch: the page itself network first (fresh language and config), falling back to the cache offline;
 *    the other ASSETS cache first; anything else (the APIs, the socket) is left to the network;
 *  - push: show the Web Push alert ({headline, wea, link, alert_id, msg_type}) as a notification;
 *    a click opens the page.
 */
"use strict";
var CACHE = "alerts-page-" + VERSION;

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(ASSETS); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf("alerts-page-") === 0 && n !== CACHE; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

function own(url) {
  var u = new URL(url);
  if (u.origin !== self.location.origin) return null;
  var path = u.pathname + u.search;
  return ASSETS.indexOf(path) >= 0 || ASSETS.indexOf(u.pathname) >= 0 ? path : null;
}

self.addEventListener("fetch", function (event) {
  if (event.request.method !== "GET") return;
  var path = own(event.request.url);
  if (path === null) return;
  var url = new URL(event.request.url);
  if (url.pathname === "/alerts") {
    event.respondWith(fetch(event.request).then(function (answer) {
      if (answer.ok) {
        var copy = answer.clone();
        caches.open(CACHE).then(function (cache) { cache.put("/alerts", copy); });
      }
      return answer;
    }).catch(function () {
      return caches.match("/alerts", { cacheName: CACHE });
    }));
    return;
  }
  event.respondWith(caches.match(event.request, { cacheName: CACHE }).then(function (hit) {
    return hit || fetch(event.request);
  }));
});

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { headline: event.data.text() }; }
  var title = (data.msg_type === "Cancel" ? "✕ " : "") + (data.headline || "Alert");
  event.waitUntil(self.registration.showNotification(title, {
    body: data.wea || "", tag: data.alert_id || undefined, renotify: true,
    requireInteraction: true, data: { link: data.link || null },
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(self.clients.matchAll({ type: "window" }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (new URL(list[i].url).pathname === "/alerts") return list[i].focus();
    }
    return self.clients.openWindow("/alerts");
  }));
});
