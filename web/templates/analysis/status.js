/* The analysis status line (templates/analysis/status.html, inlined with the page's CSP
   nonce: no extra request over a satellite link): asks /api/analysis what runs when the
   register is newer than the results (or someone is signed in: admins get a button that
   starts one), shows the re-analysis and its progress, polls while it runs and offers to
   reload when new results are in. No eval. */
(function () {
  "use strict";
  var box = document.getElementById("analysis-status");
  if (!box || !window.fetch) { return; }
  var d = box.dataset;
  var note = box.querySelector(".analysis-note");
  var actions = box.querySelector(".analysis-actions");
  var shownAt = d.at || "";
  var timer = null;
  var idlePolls = 0;

  function text(el, value) { el.textContent = value; }

  function button(label, onclick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "analysis-start";
    b.textContent = label;
    b.addEventListener("click", onclick);
    return b;
  }

  function csrf() {
    var meta = document.querySelector('meta[name=csrf-token]');
    return meta ? meta.getAttribute("content") : "";
  }

  function start() {
    fetch(d.url, { method: "POST", credentials: "same-origin",
                   headers: { "X-CSRFToken": csrf(), "Accept": "application/json" } })
      .then(function (r) { return r.json(); }).then(show).catch(later);
  }

  function show(s) {
    actions.textContent = "";
    var behind = s.analysed_register_version !== null &&
      s.register_version > s.analysed_register_version;
    var busy = s.status === "running" || s.status === "queued";
    box.classList.toggle("behind", behind || busy);
    if (s.analysed_at && s.analysed_at !== shownAt) {
      text(note, d.tReady);
      var a = document.createElement("a");
      a.href = window.location.href;
      a.className = "analysis-reload";
      a.textContent = d.tReload;
      /* a reload revalidates the page even where the browser keeps map pages for a while */
      a.addEventListener("click", function (e) { e.preventDefault(); window.location.reload(); });
      actions.appendChild(a);
    } else if (s.status === "running") {
      var pct = Math.round((s.progress || 0) * 100);
      text(note, d.tRunning + " (" + pct + " %)");
    } else if (s.status === "queued") {
      text(note, d.tWaiting);
    } else if (s.status === "failed") {
      text(note, d.tFailed + (s.error ? " " + s.error : ""));
    } else if (behind) {
      text(note, d.tChanged);
    } else {
      text(note, "");
    }
    if (s.may_start && !busy) {
      actions.appendChild(button(d.tStart, start));
    }
    if (busy) { later(); }
    else if (behind && s.status === "idle" && d.on === "1" && idlePolls < 5) {
      idlePolls += 1;  /* a change just made: its analysis is about to be asked for */
      later(3000);
    }
  }

  function later(ms) {
    if (timer) { window.clearTimeout(timer); }
    timer = window.setTimeout(poll, typeof ms === "number" ? ms : 2000);
  }

  function poll() {
    timer = null;
    fetch(d.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) { show(s); } })
      .catch(function () { later(10000); });
  }

  var signedIn = !!document.querySelector('meta[name=csrf-token]');
  if (box.classList.contains("behind") || signedIn) { poll(); }
}());
