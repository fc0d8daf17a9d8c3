// Keyboard-first triage. The desk works without this file (plain forms and links).
// Hits list: j/k move, x select, r/i/c label (the selection, or the current hit) in
// place, o open, u undo, / search, ? the keys. Hit page: r/i/c label, j older,
// k newer, u back to the list. Preferences ("next hit after labelling", the default
// sort) are kept on the server for a user account (the page brings them in the body's
// data-prefs and they are saved with POST /prefs); without accounts, in the browser.
(function () {
  "use strict";
  var LABEL_OF = { r: "relevant", i: "irrelevant", c: "clear" };
  var SERVER = (function () {
    var raw = document.body.getAttribute("data-prefs");
    if (raw === null) { return null; }
    try { return JSON.parse(raw) || {}; } catch (e) { return null; }
  }());
  var saving = 0;

  function typing(el) {
    if (!el) { return false; }
    if (el.tagName === "INPUT") { return !/^(checkbox|radio|button|submit|reset)$/.test(el.type); }
    return el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable;
  }
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  function postJSON(url, payload, retried) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf() },
      body: JSON.stringify(payload)
    }).then(function (resp) {
      return resp.json().then(function (body) {
        if (resp.status === 403 && body.csrf && !retried) {
          // The desk restarted since this page loaded: take the fresh token, once.
          document.querySelector('meta[name="csrf-token"]').setAttribute("content", body.csrf);
          return postJSON(url, payload, true);
        }
        if (!resp.ok) { throw new Error(body.error || ("HTTP " + resp.status)); }
        return body;
      });
    });
  }
  function pref(name, fallback) {
    if (SERVER) { return Object.prototype.hasOwnProperty.call(SERVER, name) ? SERVER[name] : fallback; }
    try {
      var v = window.localStorage.getItem("newsmon." + name);
      return v === null ? fallback : v === "1";
    } catch (e) { return fallback; }
  }
  function setPref(name, value) {
    if (!SERVER) {
      try { window.localStorage.setItem("newsmon." + name, value ? "1" : "0"); } catch (e) { /* private mode */ }
      return Promise.resolve();
    }
    var body = {};
    body[name] = value;
    SERVER[name] = value;
    saving += 1;
    document.body.setAttribute("data-saving", String(saving));
    return postJSON("/prefs", body).catch(function (err) {
      var status = document.getElementById("status");
      if (status) { status.textContent = "Preference not saved: " + err.message; }
      throw err;
    }).finally(function () {
      saving -= 1;
      document.body.setAttribute("data-saving", String(saving));
    });
  }
  function sortDefault() {
    var button = document.getElementById("sort-default");
    var select = document.getElementById("f-sort");
    if (!button || !select || !SERVER) { return; }
    function update() {
      var mine = select.value === button.getAttribute("data-default");
      button.disabled = mine;
      button.textContent = mine ? "your default sort" : "Make this my default sort";
    }
    button.hidden = false;
    select.addEventListener("change", update);
    button.addEventListener("click", function () {
      var value = select.value;
      setPref("sort", value).then(function () {
        button.setAttribute("data-default", value);
        update();
      }, function () { /* said in the status line */ });
    });
    update();
  }
  function go(id) {
    var a = document.getElementById(id);
    if (a && a.href) { window.location.href = a.href; }
  }

  // --- the hit page ---------------------------------------------------------------------
  function hitPage() {
    var form = document.getElementById("labelform");
    var advance = document.getElementById("advance");
    if (advance) {
      advance.checked = pref("advance", advance.checked);
      advance.addEventListener("change", function () { setPref("advance", advance.checked); });
    }
    function press(value) {
      if (!form) { return; }
      var button = form.querySelector('button[name="label"][value="' + value + '"]');
      if (button) { button.click(); }
    }
    return function (key) {
      if (LABEL_OF[key]) { press(LABEL_OF[key]); return true; }
      if (key === "j") { go("older"); return true; }
      if (key === "k") { go("newer"); return true; }
      if (key === "u") { go("back"); return true; }
      return false;
    };
  }

  // --- the list -------------------------------------------------------------------------
  function listPage(table) {
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-hit]"));
    var status = document.getElementById("status");
    var selcount = document.getElementById("selcount");
    var selectAll = document.getElementById("select-all");
    var advance = document.getElementById("advance-pref");
    var dialog = document.getElementById("keys");
    var keysButton = document.getElementById("keys-button");
    var cursor = rows.length ? 0 : -1;
    var undo = [];
    var queue = Promise.resolve();
    var pending = 0;

    advance.checked = pref("advance", true);
    advance.closest("label").hidden = false;
    advance.addEventListener("change", function () { setPref("advance", advance.checked); });
    keysButton.hidden = false;
    keysButton.addEventListener("click", function () { dialog.showModal(); });

    function say(text) { status.textContent = text; }
    function box(row) { return row.querySelector('input[name="id"]'); }
    function selected() { return rows.filter(function (r) { return box(r).checked; }); }
    function count() {
      var n = selected().length;
      selcount.textContent = n ? n + " selected" : "none selected";
      rows.forEach(function (r) { r.classList.toggle("selected", box(r).checked); });
    }
    function show(i, focus) {
      if (!rows.length) { return; }
      cursor = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach(function (r, n) {
        r.classList.toggle("cursor", n === cursor);
        if (n === cursor) { r.setAttribute("aria-current", "true"); } else { r.removeAttribute("aria-current"); }
      });
      if (focus) { rows[cursor].querySelector("a.title").focus(); }
    }
    function paint(row, label) {
      var cell = row.querySelector("td.review");
      var badge = document.createElement("span");
      var kind = label === "relevant" ? "rel" : label === "irrelevant" ? "irr" : "unrev";
      badge.className = "badge " + kind;
      badge.textContent = label || "unreviewed";
      badge.title = label ? "labelled " + label : "not reviewed yet";
      cell.textContent = "";
      cell.appendChild(badge);
      row.classList.remove("relevant", "irrelevant", "unreviewed");
      row.classList.add(label || "unreviewed");
    }
    function byId(id) {
      return rows.filter(function (r) { return r.getAttribute("data-hit") === String(id); })[0];
    }
    function post(items) { return postJSON("/hits/labels", { items: items }); }
    function send(items, describe, onDone) {
      pending += 1;
      document.body.setAttribute("data-pending", String(pending));
      queue = queue.then(function () {
        return post(items).then(function (body) {
          body.items.forEach(function (it) { paint(byId(it.id), it.label); });
          if (onDone) { onDone(body); }
          say(describe(body.items.length));
        }, function (err) {
          say("Not saved: " + err.message + ". Reload the page and try again.");
        });
      }).then(function () {
        pending -= 1;
        document.body.setAttribute("data-pending", String(pending));
      });
    }
    function label(value) {
      var targets = selected();
      var bulk = targets.length > 0;
      if (!bulk && cursor >= 0) { targets = [rows[cursor]]; }
      if (!targets.length) { return; }
      var items = targets.map(function (r) {
        return { id: Number(r.getAttribute("data-hit")), label: value };
      });
      targets.forEach(function (r) { paint(r, value === "clear" ? null : value); });
      send(items, function (n) {
        return (value === "clear" ? "Cleared " : "Labelled " + value + ": ") + n + (n === 1 ? " hit" : " hits") + " (u undoes)";
      }, function (body) {
        undo.push(body.items.map(function (it) {
          return { id: it.id, label: it.previous_label, note: it.previous_note };
        }));
      });
      if (bulk) {
        targets.forEach(function (r) { box(r).checked = false; });
        if (selectAll) { selectAll.checked = false; }
        count();
      } else if (advance.checked) {
        show(cursor + 1, true);
      }
    }
    function undoLast() {
      queue.then(function () {
        var items = undo.pop();
        if (!items) { say("Nothing to undo."); return; }
        var first = rows.indexOf(byId(items[0].id));
        send(items, function (n) { return "Undone: " + n + (n === 1 ? " hit" : " hits"); });
        if (first >= 0) { show(first, true); }
      });
    }

    table.closest("form").addEventListener("submit", function (ev) {
      var button = ev.submitter;
      if (!button || button.name !== "label") { return; }
      ev.preventDefault();
      label(button.value);
    });
    rows.forEach(function (r, n) {
      box(r).addEventListener("change", count);
      r.querySelector("a.title").addEventListener("focus", function () { show(n, false); });
    });
    if (selectAll) {
      selectAll.addEventListener("change", function () {
        rows.forEach(function (r) { box(r).checked = selectAll.checked; });
        count();
      });
    }
    show(cursor, false);

    return function (key) {
      if (key === "j") { show(cursor + 1, true); return true; }
      if (key === "k") { show(cursor - 1, true); return true; }
      if (key === "x" && cursor >= 0) { var b = box(rows[cursor]); b.checked = !b.checked; count(); return true; }
      if (LABEL_OF[key]) { label(LABEL_OF[key]); return true; }
      if (key === "o" && cursor >= 0) { window.location.href = rows[cursor].querySelector("a.title").href; return true; }
      if (key === "u") { undoLast(); return true; }
      if (key === "?") { if (dialog.open) { dialog.close(); } else { dialog.showModal(); } return true; }
      return false;
    };
  }

  sortDefault();
  var table = document.querySelector("table.hits");
  var handle = table && document.getElementById("triage") ? listPage(table) : hitPage();
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) { return; }
    if (ev.key === "/") {
      var s = document.getElementById("search");
      if (s) { ev.preventDefault(); s.focus(); }
      return;
    }
    if (document.querySelector("dialog[open]") && ev.key !== "?") { return; }
    if (handle(ev.key)) { ev.preventDefault(); }
  });
})();
