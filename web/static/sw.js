// Service worker of the field report form (/lapor). It keeps exactly what the server
// lists below and nothing else: the signed-in user's form page and the village
// outlines of the kabupaten chosen on the form (it is registered as sw.js?region=...)
// (network first, the cached copy when there is no network) and the page's
// scripts, styles and images (cached first). API requests and every other page pass
// through untouched and are never stored. Signing out deletes the cache (the server
// also sends Clear-Site-Data). Reports themselves wait in the page's own queue.
const OFFLINE = __GEO_P2DD_OFFLINE__;
const CACHE = OFFLINE.cache;
const FRESH = [OFFLINE.page, OFFLINE.villages];

// a response worth keeping: this site's own answer, not a redirect (to sign in)
function keep(cache, key, response) {
  if (response && response.ok && !response.redirected && response.type === "basic") {
    return cache.put(key, response);
  }
  return undefined;
}

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => Promise.all([
    cache.addAll(OFFLINE.assets),
    ...FRESH.map((key) => fetch(key, {credentials: "same-origin", cache: "no-store"})
      .then((r) => keep(cache, key, r)).catch(() => undefined)),
  ])).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(
    keys.filter((k) => k.startsWith("geo-p2dd-field-") && k !== CACHE)
      .map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST" && url.pathname === OFFLINE.logout) {
    event.waitUntil(caches.delete(CACHE));  // signing out: nothing of this user stays
    return;
  }
  if (request.method !== "GET") return;
  // the page by its path; the outlines with their kabupaten (?region=): only the one kept
  const key = url.pathname === OFFLINE.page ? url.pathname : url.pathname + url.search;
  if (FRESH.includes(key)) {
    event.respondWith(fetch(request).then((response) => {
      const copy = response.clone();  // before the page reads the body
      event.waitUntil(caches.open(CACHE).then((c) => keep(c, key, copy)));
      return response;
    }).catch(() => caches.match(key, {ignoreVary: true})
      .then((hit) => hit || Response.error())));
  } else if (OFFLINE.assets.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname, {ignoreVary: true})
      .then((hit) => hit || fetch(request)));
  }
});
