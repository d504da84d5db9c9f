// Service worker of the field report form: the form page and its assets are cached
// so /lapor opens without a network; reports themselves wait in the page's queue.
const CACHE = "geo-p2dd-field-v1";
const PAGE = "/lapor";
const ASSETS = ["/static/field.js", "/static/vendor/leaflet/leaflet.js",
                "/static/vendor/leaflet/leaflet.css"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll([PAGE, ...ASSETS]))
    .then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(
    keys.filter((k) => k.startsWith("geo-p2dd-field-") && k !== CACHE)
      .map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === PAGE) {  // network first: a fresh page (and CSRF token) when online
    event.respondWith(fetch(event.request).then((r) => {
      if (r.ok) { const copy = r.clone(); caches.open(CACHE).then((c) => c.put(PAGE, copy)); }
      return r;
    }).catch(() => caches.match(PAGE)));
  } else if (ASSETS.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((hit) => hit || fetch(event.request)));
  }
});
