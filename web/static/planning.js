/* The Planning page: scenarios of hypothetical sites on a Leaflet map (served by the app),
   now -> scenario after each change, two scenarios side by side, and a plan run in the
   background. Talks only to this server's JSON API; no eval, no inline handlers (CSP).
   With the basemap "none" only the kampung outlines are drawn, so it works offline. */
(function () {
  "use strict";
  var app = document.getElementById("planning-app");
  var box = document.getElementById("planning-map");
  if (!app || !box || !window.L) { return; }
  var d = app.dataset;
  var API = d.api.replace(/\/$/, "");
  var PLANS = d.plans.replace(/\/$/, "");
  var classes = JSON.parse(d.classes);
  var colours = JSON.parse(d.colours);
  var kinds = JSON.parse(d.kinds);
  /* a region of a large project: what-if summaries, outlines and plans of that region */
  var REGION = d.region ? "region=" + encodeURIComponent(d.region) : "";
  function q(url) { return REGION ? url + (url.indexOf("?") < 0 ? "?" : "&") + REGION : url; }
  var fmt = new Intl.NumberFormat(d.lang === "en" ? "en-GB" : "id-ID",
                                  { maximumFractionDigits: 0 });
  var $ = function (id) { return document.getElementById(id); };
  var state = { scenario: null, sites: [], markers: {}, classes: null, plan: null,
                planId: null };
  var api = window.geoP2DDPlanning = { map: null, updates: 0, summary: null, state: state };

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  function call(method, url, body) {
    var opts = { method: method, credentials: "same-origin",
                 headers: { "Accept": "application/json", "X-CSRFToken": csrf() } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      if (r.status === 204) { return null; }
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var why = (data && (data.error || data.description)) || r.status;
          if (data && data.field) { why = data.field + ": " + why; }
          throw new Error(why);
        }
        return data;
      });
    });
  }
  function say(id, text) { $(id).textContent = text || ""; }
  function failed(id) { return function (e) { say(id, d.msgFailed + " " + e.message); }; }
  function money(v) { return v === null || v === undefined ? "–" : "Rp " + fmt.format(v); }
  function num(v) { return v === null || v === undefined ? "–" : fmt.format(v); }

  /* --- the map ------------------------------------------------------------------------- */
  var tiles = {
    osm: ["https://tile.openstreetmap.org/{z}/{x}/{y}.png", "&copy; OpenStreetMap"],
    light: ["https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}.png",
            "&copy; OpenStreetMap, &copy; CARTO"]
  };
  var map = api.map = L.map(box);
  var chosen = tiles[d.basemap];
  if (chosen) { L.tileLayer(chosen[0], { attribution: chosen[1], maxZoom: 19 }).addTo(map); }
  var b = JSON.parse(d.bounds || "null");
  if (b) { map.fitBounds([[b[1], b[0]], [b[3], b[2]]]); } else { map.setView([0, 117], 6); }
  var outlines = null;
  var planLayer = L.layerGroup().addTo(map);

  Array.prototype.forEach.call(document.querySelectorAll("#legend .swatch"), function (s) {
    var k = (s.className.match(/sw-(\S+)/) || [])[1];
    if (colours[k]) { s.style.background = colours[k]; }
  });

  function villageStyle(f) {
    var p = f.properties || {};
    var cls = (state.classes && state.classes[p.kode]) || p.cls || "unknown";
    return { color: "#52606d", weight: 1, fillColor: colours[cls] || "#bdbdbd",
             fillOpacity: 0.45 };
  }
  if (b) {
    var url = q(d.villagesUrl + "?bbox=" + b.join(",") + "&zoom=" + Math.round(map.getZoom()));
    fetch(url, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) { return; }
      outlines = L.geoJSON(data, { interactive: false, style: villageStyle }).addTo(map);
      outlines.bringToBack();
      api.outlines = true;
    }).catch(function () { /* outlines are a help, not a need */ });
  }

  function siteIcon() {
    return L.divIcon({ className: "scenario-site-icon", iconSize: [16, 16] });
  }

  /* --- scenarios ----------------------------------------------------------------------- */
  function fillSelects(list, keep) {
    ["scenario-select", "compare-with"].forEach(function (id) {
      var sel = $(id);
      var was = id === "scenario-select" ? keep : sel.value;
      while (sel.options.length > 1) { sel.remove(1); }
      list.forEach(function (s) {
        var o = document.createElement("option");
        o.value = s.id; o.textContent = s.name;
        sel.appendChild(o);
      });
      sel.value = was ? String(was) : "";
    });
  }
  function loadList(keep) {
    return call("GET", API + "?owner=" + encodeURIComponent(d.me)).then(function (data) {
      fillSelects(data.scenarios, keep);
    });
  }
  function clearSites() {
    Object.keys(state.markers).forEach(function (k) { map.removeLayer(state.markers[k]); });
    state.markers = {};
  }
  function addMarker(site) {
    var m = L.marker([site.lat, site.lon], { draggable: true, icon: siteIcon(),
                                             title: kinds[site.kind] || site.kind });
    m.siteId = site.id;
    m.on("dragend", function () {
      var ll = m.getLatLng();
      change("PATCH", "/sites/" + m.siteId, { lon: round6(ll.lng), lat: round6(ll.lat) });
    });
    m.addTo(map);
    state.markers[site.id] = m;
  }
  function round6(v) { return Math.round(v * 1e6) / 1e6; }
  function open(id) {
    state.scenario = id ? Number(id) : null;
    clearSites();
    state.classes = null;
    state.sites = [];
    if (!state.scenario) { render(null, []); return Promise.resolve(); }
    return call("GET", q(API + "/" + state.scenario)).then(function (data) {
      state.sites = data.sites;
      data.sites.forEach(addMarker);
      render(data.summary, data.sites);
    }).catch(failed("summary-msg"));
  }
  function render(s, sites) {
    api.summary = s;
    state.classes = s ? s.villages : null;
    if (outlines) { outlines.setStyle(villageStyle); }
    say("map-colours", s ? d.msgColoursScenario : d.msgColoursNow);
    say("sum-people", s ? num(s.people_newly_served) + " " + d.msgPeople : "–");
    say("sum-facilities", s ? num(s.facilities_newly_served) : "–");
    say("sum-cost", s ? money(s.cost_idr) : "–");
    if (s) { say("sum-years", s.horizon_years); }
    var ul = $("changes");
    ul.textContent = "";
    (s ? s.changes : []).forEach(function (c) {
      var li = document.createElement("li");
      li.className = "change";
      li.dataset.kode = c.kode;
      li.textContent = (c.nama || c.kode) + ": " + (classes[c.from] || c.from) + " → " +
        (classes[c.to] || c.to);
      ul.appendChild(li);
    });
    if (s && !s.changes.length) {
      var li = document.createElement("li");
      li.className = "muted";
      li.textContent = d.msgNochange;
      ul.appendChild(li);
    }
    var body = $("sites").tBodies[0];
    body.textContent = "";
    var figures = {};
    (s ? s.sites : []).forEach(function (f) { figures[f.id] = f; });
    (sites || []).forEach(function (site) {
      var tr = body.insertRow();
      tr.dataset.site = site.id;
      var f = figures[site.id] || {};
      tr.insertCell().textContent = kinds[site.kind] || site.kind;
      tr.insertCell().textContent = num(f.people_new) + " " + d.msgPeople;
      var del = document.createElement("button");
      del.type = "button"; del.className = "delete-site"; del.textContent = d.msgDelete;
      del.addEventListener("click", function () { change("DELETE", "/sites/" + site.id); });
      tr.insertCell().appendChild(del);
    });
    api.updates += 1;
    api.renderedAt = window.performance.now();
  }
  /* a change answers with the scenario's summary; the sites are kept here */
  function change(method, path, body) {
    if (!state.scenario) { say("summary-msg", d.msgNoscenario); return Promise.resolve(); }
    say("summary-msg", d.msgBusy);
    var id = state.scenario;
    return call(method, q(API + "/" + id + path), body).then(function (summary) {
      if (state.scenario !== id) { return; }
      var sid = Number(path.split("/")[2]);
      if (method === "POST") {
        var site = Object.assign({ id: summary.site_id }, body);
        state.sites.push(site);
        addMarker(site);
      } else if (method === "PATCH") {
        state.sites.forEach(function (s) { if (s.id === sid) { Object.assign(s, body); } });
      } else if (method === "DELETE") {
        state.sites = state.sites.filter(function (s) { return s.id !== sid; });
        if (state.markers[sid]) { map.removeLayer(state.markers[sid]); delete state.markers[sid]; }
      }
      render(summary, state.sites);
      say("summary-msg", "");
    }).catch(failed("summary-msg"));
  }

  map.on("click", function (e) {
    api.clickedAt = window.performance.now();  /* what-if latency: click -> summary shown */
    if (!state.scenario) { say("summary-msg", d.msgNoscenario); return; }
    var kind = $("site-kind").value;
    var site = { kind: kind, lon: round6(e.latlng.lng), lat: round6(e.latlng.lat) };
    if (kind === "bts") {
      site.technology = "4G";
      if ($("site-height").value) { site.height_m = Number($("site-height").value); }
      if ($("site-power").value) { site.power_dbm = Number($("site-power").value); }
    }
    change("POST", "/sites", site);
  });
  function showBts() { $("bts-fields").hidden = $("site-kind").value !== "bts"; }
  $("site-kind").addEventListener("change", showBts);
  showBts();

  $("scenario-select").addEventListener("change", function () { open(this.value); });
  $("new-scenario").addEventListener("click", function () {
    var name = $("scenario-name").value.trim();
    call("POST", API, { name: name }).then(function (r) {
      $("scenario-name").value = "";
      return loadList(r.id).then(function () { return open(r.id); });
    }).catch(failed("summary-msg"));
  });
  $("rename-scenario").addEventListener("click", function () {
    var name = $("scenario-name").value.trim();
    if (!state.scenario) { say("summary-msg", d.msgNoscenario); return; }
    call("PATCH", API + "/" + state.scenario, { name: name }).then(function () {
      $("scenario-name").value = "";
      return loadList(state.scenario);
    }).catch(failed("summary-msg"));
  });
  $("delete-scenario").addEventListener("click", function () {
    if (!state.scenario || !window.confirm(d.msgConfirmDelete)) { return; }
    call("DELETE", API + "/" + state.scenario).then(function () {
      return loadList(null).then(function () { return open(null); });
    }).catch(failed("summary-msg"));
  });
  $("compare").addEventListener("click", function () {
    var other = $("compare-with").value;
    if (!state.scenario || !other) { say("summary-msg", d.msgNoscenario); return; }
    call("GET", q(API + "/compare?ids=" + state.scenario + "," + other)).then(function (data) {
      var t = $("compare-table");
      var rows = data.scenarios;
      t.tHead.rows[0].cells[1].textContent = rows[0].name;
      t.tHead.rows[0].cells[2].textContent = rows[1] ? rows[1].name : "";
      Array.prototype.forEach.call(t.tBodies[0].rows, function (tr) {
        var k = tr.dataset.key;
        [0, 1].forEach(function (i) {
          var v = rows[i] ? rows[i][k] : null;
          tr.cells[i + 1].textContent = num(v);
          tr.cells[i + 1].className = "num";
        });
      });
      t.hidden = false;
    }).catch(failed("summary-msg"));
  });

  /* --- a plan in the background -------------------------------------------------------- */
  function chosenIds() {
    return Array.prototype.filter.call(document.querySelectorAll(".plan-pick"), function (c) {
      return c.checked;
    }).map(function (c) { return c.value; });
  }
  function showPlan(plan) {
    state.plan = plan;
    planLayer.clearLayers();
    var body = $("plan-table").tBodies[0];
    body.textContent = "";
    plan.sites.forEach(function (s, i) {
      var tr = body.insertRow();
      tr.dataset.candidate = s.candidate_id;
      [s.rank || i + 1, kinds[s.kind] || s.kind, s.village || s.village_kode,
       num(s.people_new), num(s.facilities_new), num(s.cost_idr),
       num(s.cost_per_person_idr)].forEach(function (v, j) {
        var td = tr.insertCell();
        td.textContent = v;
        if (j >= 3) { td.className = "num"; }
      });
      var pick = document.createElement("input");
      pick.type = "checkbox"; pick.className = "plan-pick"; pick.value = s.candidate_id;
      pick.checked = true;
      tr.insertCell().appendChild(pick);
      L.marker([s.lat, s.lon], { icon: L.divIcon({ className: "plan-site-icon",
        iconSize: [18, 18], html: String(s.rank || i + 1) }), interactive: false,
        keyboard: false }).addTo(planLayer);
    });
    say("plan-people", num(plan.people_new));
    say("plan-facilities", num(plan.facilities_new));
    say("plan-cost", num(plan.cost_idr));
    $("plan-result").hidden = false;
  }
  $("plan-all").addEventListener("change", function () {
    var on = this.checked;
    Array.prototype.forEach.call(document.querySelectorAll(".plan-pick"), function (c) {
      c.checked = on;
    });
  });
  function poll(id) {
    call("GET", PLANS + "/" + id).then(function (job) {
      var bar = $("plan-progress");
      bar.value = job.progress || 0;
      say("plan-msg", (job.stage || job.status) + " " + Math.round(100 * (job.progress || 0)) + "%");
      if (job.status === "done") {
        bar.hidden = true;
        say("plan-msg", job.plan.solver + (job.plan.gap !== null && job.plan.gap !== undefined
          ? " · gap " + (100 * job.plan.gap).toFixed(2) + "%" : ""));
        showPlan(job.plan);
        $("run-plan").disabled = false;
      } else if (job.status === "failed") {
        bar.hidden = true;
        say("plan-msg", d.msgFailed + " " + job.error);
        $("run-plan").disabled = false;
      } else {
        window.setTimeout(function () { poll(id); }, 500);
      }
    }).catch(function (e) { failed("plan-msg")(e); $("run-plan").disabled = false; });
  }
  $("run-plan").addEventListener("click", function () {
    var body = { technologies: Array.prototype.filter.call(
      document.querySelectorAll(".plan-tech"), function (c) { return c.checked; })
      .map(function (c) { return c.value; }).join(",") };
    [["plan-max", "max_sites"], ["plan-budget", "budget"], ["plan-horizon", "horizon_years"]]
      .forEach(function (p) { if ($(p[0]).value !== "") { body[p[1]] = Number($(p[0]).value); } });
    if (d.region) { body.region = d.region; }
    $("run-plan").disabled = true;
    $("plan-result").hidden = true;
    $("plan-progress").hidden = false;
    $("plan-progress").value = 0;
    call("POST", PLANS, body).then(function (r) {
      state.planId = r.id;
      poll(r.id);
    }).catch(function (e) { failed("plan-msg")(e); $("run-plan").disabled = false; });
  });
  $("plan-save").addEventListener("click", function () {
    var name = $("scenario-name").value.trim() || undefined;
    call("POST", PLANS + "/" + state.planId + "/scenario",
         { name: name, candidate_ids: chosenIds() }).then(function (r) {
      say("plan-msg", d.msgSaved);
      return loadList(r.id).then(function () { return open(r.id); });
    }).catch(failed("plan-msg"));
  });
  var propose = $("plan-propose");
  if (propose) {
    propose.addEventListener("click", function () {
      call("POST", PLANS + "/" + state.planId + "/propose",
           { candidate_ids: chosenIds() }).then(function (r) {
        say("plan-msg", d.msgProposed + " " + r.site_ids.join(", "));
      }).catch(failed("plan-msg"));
    });
  }

  loadList(null).then(function () { api.ready = true; }).catch(failed("summary-msg"));
}());
