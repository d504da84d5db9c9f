// The field report form (/lapor): a report gets its UUID here, waits in localStorage
// until the server has it (201 or 200 for a re-sent one), and is sent again when the
// network returns (a re-sent id is stored once): at once on the browser's "online" event and
// when the page is shown again, soon after a send that failed on a working link (the answer
// lost), and every RESEND_MS in any case. The service worker (/sw.js) keeps the
// page, its assets and the village outlines so the form opens without a network.
(function () {
  "use strict";
  const app = document.getElementById("field-app");
  if (!app) return;
  const KEY = "geo_p2dd.field.queue";
  const msg = (name) => app.dataset["msg" + name] || "";
  const statusEl = document.getElementById("field-status");
  const queuedEl = document.getElementById("field-queued");
  // the fallback: every 10 s whatever the events said (app config FIELD_RESEND_SECONDS)
  const RESEND_MS = Number(app.dataset.resendMs) > 0 ? Number(app.dataset.resendMs) : 10000;
  const RETRY_FIRST_MS = 1000;  // a send failed while online: again after 1, 2, 4, 8 s ...
  let sending = false;
  let again = false;  // asked to send while sending: once more when this round ends
  let retryMs = RETRY_FIRST_MS;
  let retryTimer = null;

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  function queue() {
    try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function save(items) {
    localStorage.setItem(KEY, JSON.stringify(items));
    queuedEl.textContent = String(items.length);
  }
  // a fresh CSRF token and who is signed in now: the page may come from the phone's
  // cache, older than its token (and than its sign-in)
  async function signedIn() {
    const response = await fetch(app.dataset.token, {credentials: "same-origin",
                                                     cache: "no-store"});
    if (!response.ok) throw new Error(String(response.status));  // signed out: keep all
    return response.json();
  }

  // a send failed on a link the browser calls working: try again soon, then less often
  function retrySoon() {
    if (retryTimer !== null || navigator.onLine === false) return;  // "online" will say
    retryTimer = setTimeout(() => { retryTimer = null; drain(); }, retryMs);
    retryMs = Math.min(retryMs * 2, RESEND_MS);
  }

  async function drain() {
    if (sending) { again = true; return; }
    if (!queue().length) return;
    sending = true;
    again = false;
    let failed = false;
    try {
      let now;
      try {
        now = await signedIn();
      } catch (e) {  // offline, or signed out (then only a sign-in helps)
        failed = !(e instanceof Error && /^\d+$/.test(e.message));
        return;
      }
      // a report is sent by the user who wrote it, never by the next one signed in
      for (const report of queue().filter((r) => !r.by || r.by === now.user)) {
        const body = Object.assign({}, report);
        delete body.by;
        let response;
        try {
          response = await fetch(app.dataset.api, {
            method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "X-CSRFToken": now.csrf_token},
            body: JSON.stringify(body)});
        } catch (e) {
          failed = true;
          break;  // offline, or the answer was lost: try again later
        }
        if (response.status === 200 || response.status === 201) {
          retryMs = RETRY_FIRST_MS;
          save(queue().filter((r) => r.id !== report.id));
          statusEl.textContent = msg("Sent");
        } else if (response.status === 400 || response.status === 403) {
          const body = await response.json().catch(() => ({}));
          save(queue().filter((r) => r.id !== report.id));
          statusEl.textContent = msg("Refused") + " " + (body.error || response.status);
        } else {
          break;  // signed out, server busy: keep it
        }
      }
    } finally {
      sending = false;
      queuedEl.textContent = String(queue().length);
      if (again) drain();  // an event came during this round: its network may be back
      else if (failed) retrySoon();
    }
  }

  // the map: a click sets the point
  const lonEl = document.getElementById("r-lon");
  const latEl = document.getElementById("r-lat");
  let marker = null;
  let map = null;
  function setPoint(lat, lon) {
    lonEl.value = lon.toFixed(6); latEl.value = lat.toFixed(6);
    if (map) {
      if (marker) marker.setLatLng([lat, lon]); else marker = L.marker([lat, lon]).addTo(map);
    }
  }
  // a project of several kabupaten: the outlines (and the kampung list) are those of the
  // kabupaten chosen here, remembered on this phone; the service worker keeps that one's
  const REGION_KEY = "geo_p2dd.field.region";
  const regionEl = document.getElementById("r-region");
  if (regionEl) {
    const remembered = localStorage.getItem(REGION_KEY) || "";
    if (regionEl.querySelector(`option[value="${CSS.escape(remembered)}"]`)) {
      regionEl.value = remembered;
    }
  }
  function region() { return regionEl ? regionEl.value : ""; }
  function withRegion(url) {
    return region() ? `${url}?region=${encodeURIComponent(region())}` : url;
  }
  let outlines = null;
  function fillVillages(data) {
    const select = document.getElementById("r-village");
    if (!select.dataset.fromMap) return;
    const chosen = select.value;
    const rows = (data.features || []).filter((f) => f.id && f.properties)
      .map((f) => [f.id, String(f.properties.nama || f.id)])
      .sort((a, b) => a[1].localeCompare(b[1]));
    select.replaceChildren(select.options[0]);
    for (const [kode, nama] of rows) {
      select.add(new Option(`${nama} (${kode})`, kode));
    }
    if (rows.some((r) => r[0] === chosen)) select.value = chosen;
  }
  function loadOutlines() {
    if (!map) return;
    if (outlines) { outlines.remove(); outlines = null; }
    if (regionEl && !region()) {
      statusEl.textContent = msg("Region");
      app.dataset.villagesShown = "0";
      return;
    }
    // the kampung outlines (from the phone's cache when offline): a click on one sets
    // the point and chooses that kampung
    fetch(withRegion(app.dataset.villages), {credentials: "same-origin"})
      .then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then((data) => {
        const select = document.getElementById("r-village");
        fillVillages(data);
        if (outlines) outlines.remove();
        outlines = L.geoJSON(data, {
          style: {color: "#444", weight: 1, fillOpacity: 0.05},
          onEachFeature: (feature, layer) => {
            layer.on("click", (e) => {
              if (feature.id && select.querySelector(`option[value="${CSS.escape(feature.id)}"]`)) {
                select.value = feature.id;
              }
              setPoint(e.latlng.lat, e.latlng.lng);
            });
          }}).addTo(map);
        if (outlines.getLayers().length) map.fitBounds(outlines.getBounds());
        app.dataset.villagesShown = String(outlines.getLayers().length);
        app.dataset.villagesRegion = region();
      })
      .catch(() => { statusEl.textContent = msg("Nomap"); });
  }
  if (window.L) {
    map = L.map("field-map").setView([0.8, 114.9], 8);
    if (!/(?:^|; )basemap=none/.test(document.cookie)) {  // the same choice as the maps
      L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                  {attribution: "&copy; OpenStreetMap", maxZoom: 19}).addTo(map);
    }
    map.on("click", (e) => setPoint(e.latlng.lat, e.latlng.lng));
    loadOutlines();
  }
  document.getElementById("r-locate").addEventListener("click", () => {
    if (!navigator.geolocation) { statusEl.textContent = msg("Nogps"); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => { setPoint(p.coords.latitude, p.coords.longitude);
               if (map) map.setView([p.coords.latitude, p.coords.longitude], 14); },
      () => { statusEl.textContent = msg("Nogps"); },
      {enableHighAccuracy: true, timeout: 15000});
  });
  const dateEl = document.getElementById("r-date");
  if (!dateEl.value) dateEl.value = new Date().toISOString().slice(0, 10);

  document.getElementById("field-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (!lonEl.value || !latEl.value) { statusEl.textContent = msg("Nopoint"); return; }
    const f = e.target;
    const report = {
      id: uuid(), by: app.dataset.user, village_kode: f.village_kode.value || null,
      lon: Number(lonEl.value), lat: Number(latEl.value),
      operator: f.operator.value || null, technology: f.technology.value,
      observed_at: f.observed_at.value, note: f.note.value || null};
    save(queue().concat([report]));
    statusEl.textContent = msg("Saved");
    f.note.value = "";
    drain();
  });

  // signing out deletes what waits on this phone (Clear-Site-Data): say so first
  document.querySelectorAll("form.signout").forEach((f) => f.addEventListener("submit", (e) => {
    if (queue().length && !window.confirm(msg("Signout"))) e.preventDefault();
  }));
  // send at once when the network returns or the phone shows the page again; the
  // interval is the fallback for a link that comes back without an event
  window.addEventListener("online", () => { retryMs = RETRY_FIRST_MS; drain(); });
  window.addEventListener("focus", drain);
  window.addEventListener("pageshow", drain);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") drain();
  });
  setInterval(drain, RESEND_MS);
  queuedEl.textContent = String(queue().length);
  // the worker keeps the chosen kabupaten's outlines: another choice installs another
  function registerWorker() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register(withRegion(app.dataset.sw),
                                     {scope: app.dataset.swScope || "/"})
      .then(() => navigator.serviceWorker.ready)
      .then(() => { app.dataset.swReady = "1"; app.dataset.swRegion = region(); })
      .catch((e) => { app.dataset.swError = String(e); });
  }
  if (regionEl) {
    regionEl.addEventListener("change", () => {
      localStorage.setItem(REGION_KEY, region());
      statusEl.textContent = "";
      loadOutlines();
      registerWorker();
    });
  }
  registerWorker();
  drain();
  window.geoP2DDField = {drain, queue, setPoint, map, loadOutlines};
})();
