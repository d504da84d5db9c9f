/* The register's add/edit form: click the map to set the point (Leaflet, served by the app).
   The basemap follows the visitor's choice; "none" draws only the kampung outlines, so the
   form works offline. Nothing here talks to another site. */
(function () {
  "use strict";
  var box = document.getElementById("site-map");
  if (!box || !window.L) { return; }
  var lon = document.getElementById("f-lon");
  var lat = document.getElementById("f-lat");
  var tiles = {
    osm: ["https://tile.openstreetmap.org/{z}/{x}/{y}.png", "&copy; OpenStreetMap"],
    light: ["https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}.png",
            "&copy; OpenStreetMap, &copy; CARTO"]
  };
  var map = L.map(box, { preferCanvas: false });
  var chosen = tiles[box.dataset.basemap];
  if (chosen) { L.tileLayer(chosen[0], { attribution: chosen[1], maxZoom: 19 }).addTo(map); }
  var b = JSON.parse(box.dataset.bounds || "null");
  if (b) { map.fitBounds([[b[1], b[0]], [b[3], b[2]]]); } else { map.setView([0, 117], 6); }
  var marker = null;

  function place(lt, ln, pan) {
    if (!isFinite(lt) || !isFinite(ln)) { return; }
    if (marker) { marker.setLatLng([lt, ln]); }
    else {
      marker = L.circleMarker([lt, ln], { radius: 8, color: "#102a43", weight: 2,
        fillColor: "#f0b429", fillOpacity: 0.9, interactive: false }).addTo(map);
    }
    if (pan) { map.setView([lt, ln], Math.max(map.getZoom(), 12)); }
  }

  map.on("click", function (e) {
    lon.value = e.latlng.lng.toFixed(6);
    lat.value = e.latlng.lat.toFixed(6);
    place(e.latlng.lat, e.latlng.lng, false);
    var kampung = document.getElementById("f-village_kode");
    if (kampung) { kampung.value = ""; }  /* the kampung follows the point (server side) */
  });
  [lon, lat].forEach(function (input) {
    input.addEventListener("change", function () {
      place(parseFloat(lat.value), parseFloat(lon.value), true);
    });
  });
  place(parseFloat(lat.value), parseFloat(lon.value), true);

  if (b && box.dataset.villagesUrl) {
    var url = box.dataset.villagesUrl + "?bbox=" + b.join(",") + "&zoom=" + map.getZoom();
    fetch(url, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) { return; }
      L.geoJSON(data, { interactive: false,
        style: { color: "#52606d", weight: 1, fillOpacity: 0.04 } }).addTo(map);
    }).catch(function () { /* outlines are a help, not a need */ });
  }
  window.geoP2DDRegister = { map: map };
}());
