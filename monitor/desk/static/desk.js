// Keyboard shortcuts for triage. The desk works without this file.
// Hit page: r relevant, i irrelevant, c clear, j older, k newer, u back to the list.
// Hits list: / focuses the search box.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  function go(id) {
    var a = document.getElementById(id);
    if (a && a.href) { window.location.href = a.href; }
  }
  function press(value) {
    var form = document.getElementById("labelform");
    if (!form) { return; }
    var button = form.querySelector('button[name="label"][value="' + value + '"]');
    if (button) { button.click(); }
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) { return; }
    var keys = { r: function () { press("relevant"); }, i: function () { press("irrelevant"); },
      c: function () { press("clear"); }, j: function () { go("older"); }, k: function () { go("newer"); },
      u: function () { go("back"); } };
    if (ev.key === "/") {
      var s = document.getElementById("search");
      if (s) { ev.preventDefault(); s.focus(); }
      return;
    }
    if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
  });
})();
