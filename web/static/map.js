/* geo_p2dd map behaviour: popups, tooltips, colour modes, table, search, basemaps.
   Every text that comes from data is escaped before it becomes HTML. */
(function () {
  "use strict";
  var cfgEl = document.getElementById("map-config");
  if (!cfgEl) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var refs = window.geoP2DDRefs || {};
  var map = refs.map;
  var L = window.L;
  var labels = cfg.labels || {};

  function esc(value) {
    return String(value === undefined || value === null ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  /* ---- basemaps: "none" works offline; the choice is remembered ---- */
  if (refs.control) {
    var control = refs.control;
    var none = L.layerGroup();
    control.addBaseLayer(none, labels.noneBasemap);
    if (cfg.basemap === "none") none.addTo(map);
    map.on("baselayerchange", function (e) {
      var key = e.layer === none ? "none" : (e.name === "OpenStreetMap" ? "osm" : "light");
      document.cookie = "basemap=" + key + ";path=/;max-age=31536000;samesite=lax";
      try { window.localStorage.setItem("geo_p2dd.basemap", key); } catch (err) { /* private mode */ }
      /* offline pages forbid outside images (CSP) and list the basemaps as empty
         placeholders: reload under the new choice's policy */
      if (cfg.basemap === "none" && key !== "none") window.location.reload();
    });
    /* an office offline or on a failing link: when basemap tiles fail and none has
       loaded, fall back to no basemap and say so (instead of a grey map of errors) */
    Object.keys(control._layers || {}).forEach(function (k) {
      var entry = control._layers[k];
      if (entry.overlay || !entry.layer || !entry.layer.on || entry.layer === none) return;
      var failed = 0, loaded = 0;
      var check = function () {
        if (failed < 3 || loaded > 0 || !map.hasLayer(entry.layer)) return;
        map.removeLayer(entry.layer);
        none.addTo(map);
        var note = document.getElementById("basemap-note");
        if (note) { note.textContent = labels.basemapFailed; note.hidden = false; }
      };
      /* this script is deferred: tiles may have loaded or failed before it ran (Leaflet
         marks a tile that loaded with leaflet-tile-loaded; a failed one is done without) */
      var tiles = entry.layer._tiles || {};
      Object.keys(tiles).forEach(function (t) {
        if (!tiles[t].loaded) return;
        if (tiles[t].el && L.DomUtil.hasClass(tiles[t].el, "leaflet-tile-loaded")) loaded += 1;
        else failed += 1;
      });
      entry.layer.on("tileload", function () { loaded += 1; });
      entry.layer.on("tileerror", function () { failed += 1; check(); });
      check();
    });
  }

  /* ---- the legend folds away (folded at first on small screens) ---- */
  var legend = document.getElementById("legend"), fold = document.getElementById("legend-fold");
  if (legend && fold) {
    var setFolded = function (folded) {
      legend.classList.toggle("folded", folded);
      fold.setAttribute("aria-expanded", folded ? "false" : "true");
    };
    setFolded(window.innerWidth < 700);
    fold.addEventListener("click", function () {
      setFolded(!legend.classList.contains("folded"));
    });
  }

  /* ---- villages ---- */
  var mode = "class", view = "now";
  var byKode = {};
  function colourFor(p) {
    if (mode === "score" && p.score !== undefined) {
      var c = cfg.scoreBins[0][1];
      for (var i = 0; i < cfg.scoreBins.length; i++) {
        if (p.score >= cfg.scoreBins[i][0]) c = cfg.scoreBins[i][1];
      }
      return c;
    }
    /* the view: today's class, or the class with the sites in progress and planned */
    var cls = view === "pipeline" && p.cls_planned ? p.cls_planned : p.cls;
    return cfg.colours[cls] || "#bdbdbd";
  }
  function styleFor(feature) {
    return { fillColor: colourFor(feature.properties), color: "#ffffff", weight: 1, fillOpacity: 0.5 };
  }
  function tooltip(p) {
    return "<strong>" + esc(p.nama) + "</strong><br>" + esc(p.cls_label) +
      (p.score !== undefined ? " · " + esc(labels.score) + " " + esc(p.score) : "");
  }
  function popup(p) {
    var url = cfg.villageUrl.replace("KODE", encodeURIComponent(p.kode));
    var h = '<div class="vpopup"><h3>' + esc(p.nama) + ' <small>' + esc(p.kode) + '</small></h3>' +
      '<p class="muted">' + esc(labels.kecamatan) + ' ' + esc(p.kec) + '</p>' +
      '<p><span class="swatch cls-' + esc(p.cls) + '"></span>' + esc(p.cls_label) +
      (p.prog_label ? ' → ' + esc(p.prog_label) + ' <span class="muted">(' + esc(labels.afterPlanned) + ')</span>' : '') + '</p>';
    if (p.score !== undefined) {
      h += '<table class="kv">' +
        '<tr><th>' + esc(labels.score) + '</th><td>' + esc(p.score) + ' · ' + esc(labels.rank) + ' ' + esc(p.rank) + '</td></tr>' +
        '<tr><th>' + esc(labels.peopleUnserved) + '</th><td>' + esc(p.pu) + '</td></tr>' +
        '<tr><th>' + esc(labels.facilitiesUnserved) + '</th><td>' + esc(p.fu) + '</td></tr>' +
        '<tr><th>' + esc(labels.no4g) + '</th><td>' + esc(p.no4g) + '</td></tr>' +
        '<tr><th>' + esc(labels.nearest) + '</th><td>' + esc(p.near) + '</td></tr>' +
        '<tr><th>' + esc(labels.sites) + '</th><td>' + esc(labels.installed) + ' ' + esc(p.inst) + ', ' +
        esc(labels.inProgress) + ' ' + esc(p.prog) + ', ' + esc(labels.planned) + ' ' + esc(p.plan) + ', ' +
        esc(labels.proposed) + ' ' + esc(p.prop) + '</td></tr></table>';
    }
    h += '<p><a href="' + esc(url) + '">' + esc(labels.details) + ' →</a></p></div>';
    return h;
  }
  function bindVillage(layer) {
    var p = layer.feature.properties;
    byKode[p.kode] = layer;
    layer.bindTooltip(tooltip(p), { sticky: true });
    layer.bindPopup(function () { return popup(p); }, { maxWidth: 320 });
  }
  var villages = refs.villages || null;
  if (villages) {
    villages.eachLayer(bindVillage);
    map.fitBounds(villages.getBounds(), { padding: [8, 8] });
  }

  /* aggregates (large regions): tooltip, click opens the area's own map */
  if (refs.aggregate) {
    refs.aggregate.eachLayer(function (layer) {
      var p = layer.feature.properties;
      layer.bindTooltip("<strong>" + esc(p.nama) + "</strong> " + esc(p.kode) +
        (p.villages !== undefined ? "<br>" + esc(p.villages) + " " + esc(labels.villagesN) + ", " +
          esc(p.blank) + " " + esc(labels.blankN) + "<br>" + esc(labels.peopleUnserved) + ": " + esc(p.pu) : "") +
        "<br><small>" + esc(labels.openRegion) + "</small>", { sticky: true });
      layer.on("click", function () {
        window.location.search = "?region=" + encodeURIComponent(p.kode);
      });
    });
    map.fitBounds(refs.aggregate.getBounds(), { padding: [8, 8] });
  }

  /* villages per view for large projects */
  var dynamic = null, villagesReady = 0;
  /* when the villages layer is first on the map (for measuring pages, bench/satellite.py) */
  var markVillages = function () {
    if (villagesReady) return;
    villagesReady = performance.now();
    if (window.geoP2DD) window.geoP2DD.villagesReady = villagesReady;
  };
  if (cfg.bboxUrl) {
    dynamic = L.geoJSON(null, { style: styleFor, onEachFeature: function (f, l) { bindVillage(l); } }).addTo(map);
    var hint = document.getElementById("zoom-hint");
    var pending = null;
    var load = function () {
      if (map.getZoom() < cfg.villageMinZoom) {
        dynamic.clearLayers(); byKode = {};
        if (hint) hint.hidden = false;
        markVillages();
        return;
      }
      if (hint) hint.hidden = true;
      var b = map.getBounds();
      var url = cfg.bboxUrl + (cfg.bboxUrl.indexOf("?") < 0 ? "?" : "&") + "bbox=" +
        [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); }).join(",") +
        "&zoom=" + map.getZoom();
      if (pending) pending.abort();
      pending = new AbortController();
      fetch(url, { signal: pending.signal }).then(function (r) { return r.json(); }).then(function (data) {
        dynamic.clearLayers(); byKode = {};
        if (hint) hint.hidden = !data.too_many;
        dynamic.addData(data);
        markVillages();
      }).catch(function () { /* aborted or offline */ });
    };
    map.on("moveend", load);
    load();
  }

  function restyle() {
    var layers = [villages, dynamic].filter(Boolean);
    layers.forEach(function (g) { g.eachLayer(function (l) { l.setStyle(styleFor(l.feature)); }); });
    var lc = document.querySelector(".legend-class"), ls = document.querySelector(".legend-score");
    if (lc && ls) { lc.hidden = mode !== "class"; ls.hidden = mode !== "score"; }
  }
  document.querySelectorAll('input[name="mode"]').forEach(function (input) {
    input.addEventListener("change", function () { mode = input.value; restyle(); });
  });
  document.querySelectorAll('input[name="view"]').forEach(function (input) {
    input.addEventListener("change", function () { view = input.value; restyle(); });
  });
  if (villages) restyle();

  /* ---- locations and sites ---- */
  if (refs.locations && cfg.locationData) {
    var locLayer = refs.locations;
    cfg.locationData.features.forEach(function (f) {
      var p = f.properties, c = f.geometry.coordinates;
      var measured = p.evidence === "measured";  /* field evidence: a dark ring */
      L.circleMarker([c[1], c[0]], {
        radius: measured ? 6 : 4, weight: measured ? 2.5 : 1,
        color: measured ? "#111111" : "#ffffff", fillOpacity: 0.95,
        fillColor: cfg.locationColours[p.status] || "#969696", className: "loc-" + esc(p.evidence || "modelled")
      }).bindTooltip("<strong>" + esc(p.name) + "</strong><br>" + esc(p.kind) + " · " + esc(p.status_label) +
        (p.people ? " · " + esc(p.people) + " " + esc(labels.people) : "") + "<br><small>" + esc(p.reason) + "</small>")
        .addTo(locLayer);
    });
  }
  if (refs.sites && cfg.siteData) {
    var siteLayer = refs.sites;
    cfg.siteData.features.forEach(function (f) {
      var p = f.properties, c = f.geometry.coordinates;
      var icon = L.divIcon({
        className: "site-icon", iconSize: [18, 18], iconAnchor: [9, 9],
        html: '<span class="badge st-' + esc(p.status) + '" style="background:' + esc(cfg.siteColours[p.status] || "#555") + '">' + esc(p.letter) + '</span>'
      });
      L.marker([c[1], c[0]], { icon: icon, title: p.name, keyboard: false })
        .bindPopup('<div class="vpopup"><h3>' + esc(p.name) + '</h3><p>' + esc(p.kind_label) + ' · ' + esc(p.status_label) + '</p>' +
          '<table class="kv"><tr><th>' + esc(labels.agency) + '</th><td>' + esc(p.agency || p.operator) + '</td></tr>' +
          '<tr><th>' + esc(labels.year) + '</th><td>' + esc(p.year) + '</td></tr></table></div>')
        .addTo(siteLayer);
    });
  }

  /* ---- ranked table: filter, sort, click to zoom ---- */
  var table = document.getElementById("gap-table");
  function zoomTo(kode) {
    var layer = byKode[kode];
    if (!layer) return;
    map.fitBounds(layer.getBounds(), { maxZoom: 12, padding: [20, 20] });
    layer.openPopup(layer.getBounds().getCenter());
  }
  if (table) {
    var tbody = table.tBodies[0];
    var kec = document.getElementById("filter-kec"), cls = document.getElementById("filter-cls");
    var applyFilters = function () {
      var shown = 0;
      Array.prototype.forEach.call(tbody.rows, function (tr) {
        var ok = (!kec || !kec.value || tr.dataset.kec === kec.value) && (!cls || !cls.value || tr.dataset.cls === cls.value);
        tr.hidden = !ok; if (ok) shown++;
      });
      var empty = document.getElementById("no-rows"); if (empty) empty.hidden = shown > 0;
    };
    [kec, cls].forEach(function (s) { if (s) s.addEventListener("change", applyFilters); });
    tbody.addEventListener("click", function (e) {
      var tr = e.target.closest("tr"); if (tr) zoomTo(tr.dataset.kode);
    });
    tbody.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { var tr = e.target.closest("tr"); if (tr) zoomTo(tr.dataset.kode); }
    });
    table.tHead.addEventListener("click", function (e) {
      var th = e.target.closest("th"); if (!th || !th.dataset.sort) return;
      var key = th.dataset.sort, num = th.dataset.type === "num";
      var asc = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(tbody.rows);
      rows.sort(function (a, b) {
        var x = a.dataset[key], y = b.dataset[key];
        var d = num ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return asc ? d : -d;
      });
      rows.forEach(function (r) { tbody.appendChild(r); });
    });
  }

  /* ---- search ---- */
  var search = document.getElementById("village-search");
  if (search) {
    var go = function () {
      var q = search.value.trim().toLowerCase(); if (!q) return;
      var opts = document.querySelectorAll("#village-names option");
      for (var i = 0; i < opts.length; i++) {
        if (opts[i].value.toLowerCase() === q) { zoomTo(opts[i].dataset.kode); return; }
      }
      for (var j = 0; j < opts.length; j++) {
        if (opts[j].value.toLowerCase().indexOf(q) >= 0) { zoomTo(opts[j].dataset.kode); return; }
      }
    };
    search.addEventListener("change", go);
    search.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); go(); } });
  }
  if (!dynamic) markVillages();

  /* ---- a page the browser kept (shown without a round trip, satellite links): ask in the
     background whether it changed; the answer also refreshes the browser's copy for the
     next visit. Changed: say so and offer the newer page (then from the browser's cache). */
  var fresh = { checked: false, newer: false };
  var nav = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
  if (nav && nav.transferSize === 0 && nav.decodedBodySize > 0 && window.fetch) {
    var here = location.href.split("#")[0];
    fetch(here, { cache: "force-cache", credentials: "same-origin" }).then(function (kept) {
      var was = kept.headers.get("ETag");
      return fetch(here, { cache: "no-cache", credentials: "same-origin" }).then(function (r) {
        fresh.checked = true;
        if (!r.ok || !was || r.headers.get("ETag") === was) return;
        fresh.newer = true;
        var note = document.createElement("div");
        note.className = "page-note";
        note.setAttribute("role", "status");
        note.textContent = labels.newerPage + " ";
        var link = document.createElement("a");
        link.href = here;
        link.textContent = labels.showNewer;
        note.appendChild(link);
        document.body.appendChild(note);
      });
    }).catch(function () { /* offline: the kept page stays */ });
  }
  window.geoP2DD = { fresh: fresh, zoomTo: zoomTo, map: map, villages: byKode, ready: performance.now(),
                     villagesReady: villagesReady };
})();
