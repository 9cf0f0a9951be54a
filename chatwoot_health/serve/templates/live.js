(function () {
  "use strict";
  // The live part of the dashboard served by `chatwoot-health serve`: polls the run state, swaps
  // in the new page when a run lands (no reload), runs a check on demand, and shows alert
  // changes as toasts and (if allowed) browser notifications. It never builds HTML from
  // strings: new content comes from the server's own page, parsed by DOMParser.
  var cfg = JSON.parse(document.getElementById("live-data").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var KEY_NOTIFY = "chatwoot-health:notifications";
  var version = null;
  var alerts = null;
  var lastFetch = Date.now();
  var fetching = false;

  function remembered(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function remember(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* not remembered */ }
  }

  // Sizes the page would set with style attributes, which the CSP does not allow: as CSSOM.
  function applyCss(root) {
    ["width", "left"].forEach(function (prop) {
      Array.prototype.slice.call(root.querySelectorAll("[data-css-" + prop + "]")).forEach(function (el) {
        el.style[prop] = el.getAttribute("data-css-" + prop);
      });
    });
  }

  function status(text) {
    var el = document.getElementById("run-status");
    if (el) el.textContent = text;
  }

  function syncNotifyToggle() {
    var box = document.getElementById("browser-notify");
    if (!box) return;
    if (!("Notification" in window)) {
      box.disabled = true;
      return;
    }
    box.checked = remembered(KEY_NOTIFY) === "1" && Notification.permission === "granted";
  }

  function toast(kind, title, text) {
    var region = document.getElementById("toasts");
    var item = document.createElement("div");
    item.className = "toast " + kind;
    item.setAttribute("role", "status");
    var strong = document.createElement("strong");
    strong.textContent = title;
    item.appendChild(strong);
    item.appendChild(document.createElement("br"));
    item.appendChild(document.createTextNode(text));
    region.appendChild(item);
    setTimeout(function () { item.remove(); }, cfg.toast_seconds * 1000);
    if (remembered(KEY_NOTIFY) === "1" && "Notification" in window && Notification.permission === "granted") {
      try { new Notification(title, { body: text, tag: "chatwoot-health" }); } catch (e) { /* not shown */ }
    }
  }

  function diffAlerts(next) {
    var before = {};
    var now = {};
    (alerts || []).forEach(function (a) { before[a.name] = a; });
    next.forEach(function (a) { now[a.name] = a; });
    if (alerts !== null) {
      next.forEach(function (a) {
        if (!before[a.name]) toast(a.severity, "Alert started: " + a.title, a.severity.toUpperCase() + " — " + a.name);
      });
      (alerts || []).forEach(function (a) {
        if (!now[a.name]) toast("resolved", "Alert resolved: " + a.title, a.name);
      });
    }
    alerts = next;
  }

  function swap() {
    if (fetching) return;
    fetching = true;
    fetch(cfg.page_url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 401 || response.redirected) {
          window.location.assign(cfg.login_url);
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        if (text === null) return;
        // Only the body: the head's <style> carries that response's nonce, and a parsed copy of
        // it would be reported as a CSP violation (it is never applied either way).
        var body = text.indexOf("<body");
        var doc = new DOMParser().parseFromString(body < 0 ? text : text.slice(body), "text/html");
        var fresh = doc.querySelector("main");
        var data = doc.getElementById("dashboard-data");
        var main = document.querySelector("main");
        if (!fresh || !data || !main) return;
        applyCss(fresh);
        main.replaceWith(document.adoptNode(fresh));
        document.getElementById("dashboard-data").textContent = data.textContent;
        if (window.chatwootHealthDashboard) window.chatwootHealthDashboard.start();
        syncNotifyToggle();
        lastFetch = Date.now();
        document.dispatchEvent(new CustomEvent("chatwoot-health:updated"));
      })
      .catch(function () { status("Could not refresh the page; retrying."); })
      .then(function () { fetching = false; });
  }

  function describe(run) {
    if (run.running) return "A run is in progress…";
    if (run.error) return "Last run: " + run.error;
    if (run.finished_at) return "Last run finished " + new Date(run.finished_at).toLocaleTimeString() + " (" + run.status + ")";
    return "";
  }

  function poll() {
    fetch(cfg.state_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign(cfg.login_url);
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (state) {
        if (!state) return;
        status(describe(state.run));
        diffAlerts(state.alerts || []);
        var changed = version !== null && state.version !== version;
        version = state.version;
        if (changed || Date.now() - lastFetch > cfg.refresh_seconds * 1000) swap();
      })
      .catch(function () { status("The server did not answer; retrying."); });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || form.id !== "run-form") return;
    event.preventDefault();
    fetch(cfg.run_url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" }
    })
      .then(function (response) {
        return response.json().then(function (body) { return { code: response.status, body: body }; },
          function () { return { code: response.status, body: {} }; });
      })
      .then(function (answer) {
        if (answer.code === 202) status("Check started…");
        else status(answer.body.error || "The check could not start (" + answer.code + ").");
        poll();
      })
      .catch(function () { status("The server did not answer."); });
  });

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box || box.id !== "browser-notify") return;
    if (!box.checked) {
      remember(KEY_NOTIFY, "0");
      return;
    }
    Notification.requestPermission().then(function (permission) {
      remember(KEY_NOTIFY, permission === "granted" ? "1" : "0");
      syncNotifyToggle();
      if (permission !== "granted") status("Browser notifications are blocked for this site.");
    });
  });

  applyCss(document);
  syncNotifyToggle();
  poll();
  setInterval(poll, cfg.poll_seconds * 1000);
})();
