/* The report page's service worker (Workbox, vendored: no CDN). Precaches the page and every asset it loads, by
 * content digest (the server fills in the manifest), so /report opens with no network; the region's street layer
 * is kept once fetched. Reports are never sent from here: the page's own outbox (IndexedDB) does that. */
importScripts("{{static}}/vendor/workbox/build/workbox-sw.js");

workbox.setConfig({
  debug: false,
  modulePathCb: function (name) {  // "workbox-core" -> the vendored production build
    var module = name.replace(/^workbox-/, "");
    return "{{static}}/vendor/workbox/" + module + "/build/" + name + ".prod.js";
  },
});

workbox.core.clientsClaim();
workbox.core.skipWaiting();
workbox.precaching.cleanupOutdatedCaches();
workbox.precaching.precacheAndRoute(self.__PRECACHE_MANIFEST, { ignoreURLParametersMatching: [/.*/] });
workbox.routing.registerRoute(
  function (options) { return options.url.pathname === "/region/roads.geojson"; },
  new workbox.strategies.StaleWhileRevalidate({ cacheName: "report-region" })
);
