(function () {
  "use strict";
  // Everything is rendered server-side; this script only toggles `hidden`, `open` and
  // aria-* attributes, sets textContent, and reloads. It never builds HTML from strings.
  // `serve` replaces the page's <main> when a run lands and calls start() again.
  var ticker = null;
  var timer = null;
  function start() {
    var cfg = JSON.parse(document.getElementById("dashboard-data").textContent);
    var KEY_AUTO = "chatwoot-health:auto-refresh";
    var KEY_RANGE = "chatwoot-health:range";
    var KEY_OPEN = "chatwoot-health:detailed";

    function storage(kind) {
      try {
        var s = window[kind];
        return s || null;
      } catch (e) {
        return null; // file:// or privacy settings may forbid storage
      }
    }
    function get(kind, key) {
      try {
        var s = storage(kind);
        return s ? s.getItem(key) : null;
      } catch (e) {
        return null;
      }
    }
    function put(kind, key, value) {
      try {
        var s = storage(kind);
        if (s) s.setItem(key, value);
      } catch (e) {
        /* not remembered: harmless */
      }
    }

    // ---------------------------------------------------------------- range selector (tabs)
    var tabs = Array.prototype.slice.call(document.querySelectorAll('[role="tab"]'));
    var panels = Array.prototype.slice.call(document.querySelectorAll('[role="tabpanel"]'));
    var details = Array.prototype.slice.call(document.querySelectorAll("details.more"));

    function select(label, focus) {
      var found = tabs.some(function (t) { return t.getAttribute("data-range") === label; });
      if (!found) return;
      tabs.forEach(function (t) {
        var on = t.getAttribute("data-range") === label;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        if (on && focus) t.focus();
      });
      panels.forEach(function (p) {
        p.hidden = p.getAttribute("data-range") !== label;
      });
      put("sessionStorage", KEY_RANGE, label);
    }
    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function () {
        select(tab.getAttribute("data-range"), false);
      });
      tab.addEventListener("keydown", function (event) {
        var next = null;
        if (event.key === "ArrowRight" || event.key === "ArrowDown") next = (index + 1) % tabs.length;
        else if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = (index - 1 + tabs.length) % tabs.length;
        else if (event.key === "Home") next = 0;
        else if (event.key === "End") next = tabs.length - 1;
        if (next === null) return;
        event.preventDefault();
        select(tabs[next].getAttribute("data-range"), true);
      });
    });

    // ---------------------------------------------------------------- detailed view, in step
    function setOpen(open) {
      details.forEach(function (d) {
        if (d.open !== open) d.open = open;
      });
    }
    details.forEach(function (d) {
      d.addEventListener("toggle", function () {
        // Toggle events arrive later, as tasks. Only the shown range's view speaks for the user;
        // the hidden copies' events are our own echoes (and may be stale after a quick re-toggle).
        var panel = d.closest("section.panel");
        if (panel && panel.hidden) return;
        setOpen(d.open);
        put("sessionStorage", KEY_OPEN, d.open ? "1" : "0");
      });
    });
    var remembered = get("sessionStorage", KEY_RANGE);
    if (remembered && remembered !== cfg.default_range) select(remembered, false);
    if (get("sessionStorage", KEY_OPEN) === "1") setOpen(true);

    // ---------------------------------------------------------------- last updated, stale banner
    var generated = Date.parse(cfg.generated_at);
    var staleAfter = cfg.stale_after_minutes * 60000;
    var updated = document.getElementById("updated");
    var stale = document.getElementById("stale");
    var staleAge = document.getElementById("stale-age");
    var agos = Array.prototype.slice.call(document.querySelectorAll("time[data-ago]"));

    function ago(ms) {
      var s = Math.max(0, Math.floor(ms / 1000));
      if (s < 60) return s === 1 ? "1 second ago" : s + " seconds ago";
      var m = Math.floor(s / 60);
      if (m < 120) return m === 1 ? "1 minute ago" : m + " minutes ago";
      var h = Math.floor(m / 60);
      if (h < 48) return h + " hours ago";
      return Math.floor(h / 24) + " days ago";
    }
    function tick() {
      var now = Date.now();
      var age = now - generated;
      updated.textContent = ago(age);
      staleAge.textContent = ago(age);
      stale.hidden = !(age > staleAfter);
      agos.forEach(function (t) {
        var at = Date.parse(t.getAttribute("datetime"));
        if (!isNaN(at)) t.textContent = ago(now - at);
      });
    }
    tick();
    if (ticker !== null) clearInterval(ticker);
    ticker = setInterval(tick, 15000);

    // ---------------------------------------------------------------- refresh
    Array.prototype.slice.call(document.querySelectorAll("[data-reload]")).forEach(function (b) {
      b.addEventListener("click", function () { window.location.reload(); });
    });
    var auto = document.getElementById("auto-refresh");
    function schedule() {
      if (timer !== null) {
        clearTimeout(timer);
        timer = null;
      }
      if (auto && auto.checked) {
        timer = setTimeout(function () { window.location.reload(); }, cfg.auto_refresh_minutes * 60000);
      }
    }
    if (auto) {
      var savedAuto = get("localStorage", KEY_AUTO);
      auto.checked = savedAuto === null ? true : savedAuto === "1";
      auto.addEventListener("change", function () {
        put("localStorage", KEY_AUTO, auto.checked ? "1" : "0");
        schedule();
      });
    }
    schedule();

    document.getElementById("controls").hidden = false;
  }
  window.chatwootHealthDashboard = { start: start };
  start();
})();
