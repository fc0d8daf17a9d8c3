// Keys on the near-miss inbox and the list of all articles (plain forms and links work
// without this file): j/k move, r "Teach as hit", i "Not a hit", o open. The row under
// the cursor is remembered across the reload that a label makes.
(function () {
  "use strict";
  var list = document.getElementById("review-list");
  if (!list) { return; }
  var rows = Array.prototype.slice.call(list.querySelectorAll("tbody tr[data-article]"));
  if (!rows.length) { return; }
  var KEY = "newsmon.cursor." + location.pathname + location.search;
  var at = 0;
  try { at = Math.min(parseInt(sessionStorage.getItem(KEY) || "0", 10) || 0, rows.length - 1); } catch (e) { at = 0; }

  function show(i) {
    rows[at].classList.remove("cursor");
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows[at].classList.add("cursor");
    rows[at].scrollIntoView({ block: "nearest" });
    try { sessionStorage.setItem(KEY, String(at)); } catch (e) { /* private mode */ }
  }
  function typing(el) {
    if (!el) { return false; }
    if (el.tagName === "INPUT") { return !/^(checkbox|radio|button|submit|reset)$/.test(el.type); }
    return el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable;
  }
  function press(value) {
    var b = rows[at].querySelector('form.teach button[value="' + value + '"]');
    if (b) { b.click(); }
  }
  show(at);
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) { return; }
    if (ev.key === "j") { show(at + 1); } else if (ev.key === "k") { show(at - 1); } else if (ev.key === "r") { press("relevant"); } else if (ev.key === "i") { press("irrelevant"); } else if (ev.key === "o") {
      var a = rows[at].querySelector("a.title");
      if (a) { location.href = a.getAttribute("href"); }
    } else { return; }
    ev.preventDefault();
  });
}());
