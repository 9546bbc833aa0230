/* What the report page and the tracking page share: the config, the language choice and strings, element building.
 * window.citizenPage = { config, lang, chooseLanguage, setLanguage, t, el }. */
(function () {
  "use strict";

  var CONFIG = JSON.parse(document.getElementById("config").textContent);
  var LANG_KEY = "report-page-lang";

  // ?lang=, then the page's switch (kept), then the server's negotiation of Accept-Language, then the browser's list
  function chooseLanguage() {
    var asked = new URLSearchParams(location.search).get("lang");
    var stored = null;
    try { stored = localStorage.getItem(LANG_KEY); } catch (e) { /* private mode */ }
    var wanted = [asked, stored, CONFIG.lang].concat(navigator.languages || []);
    for (var i = 0; i < wanted.length; i++) {
      var primary = (wanted[i] || "").toLowerCase().split("-")[0];
      if (CONFIG.languages.indexOf(primary) >= 0) return primary;
    }
    return CONFIG.languages[0];
  }

  var shared = { config: CONFIG, lang: chooseLanguage() };

  shared.setLanguage = function (code) {
    shared.lang = code;
    try { localStorage.setItem(LANG_KEY, code); } catch (err) { /* private mode */ }
  };

  // the string of ``key`` in the current language (English when it lacks one), with {name} filled from ``values``
  shared.t = function (key, values) {
    var text = (CONFIG.messages[shared.lang] || {})[key];
    if (text === undefined) text = CONFIG.messages.en[key];
    return text.replace(/\{(\w+)\}/g, function (_, name) {
      return values && values[name] !== undefined ? String(values[name]) : "";
    });
  };

  // an element with attributes (``text``: its text, ``on``: event listeners) and children
  shared.el = function (tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "on") Object.keys(attrs.on).forEach(function (ev) { node.addEventListener(ev, attrs.on[ev]); });
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  };

  window.citizenPage = shared;
})();
