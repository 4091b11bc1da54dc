// Factory Studio: render Mermaid diagrams (also after a live swap), place waterfall bars, fill example intents.
(function () {
  "use strict";
  function renderDiagrams(root) {
    if (!window.mermaid) { return; }
    // diagrams inside a closed <details> are drawn when it opens (a hidden diagram has no size)
    var nodes = Array.prototype.filter.call((root || document).querySelectorAll("pre.mermaid:not([data-processed])"),
      function (n) { return !n.closest("details:not([open])"); });
    if (nodes.length) { window.mermaid.run({ nodes: nodes }).catch(function (err) { console.error(err); }); }
  }
  function placeBars(root) {
    (root || document).querySelectorAll(".bar[data-left]").forEach(function (bar) {
      bar.style.marginLeft = bar.getAttribute("data-left") + "%";
      bar.style.width = bar.getAttribute("data-width") + "%";
    });
  }
  function examples() {
    var select = document.getElementById("example");
    var text = document.getElementById("intent");
    if (!select || !text) { return; }
    var all = JSON.parse(select.getAttribute("data-examples") || "{}");
    select.addEventListener("change", function () {
      if (select.value && all[select.value]) { text.value = all[select.value]; }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (window.mermaid) {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default",
                                  flowchart: { useMaxWidth: true }, state: { useMaxWidth: true } });
    }
    renderDiagrams(document);
    placeBars(document);
    examples();
    document.addEventListener("toggle", function (evt) {
      if (evt.target.open) { renderDiagrams(evt.target); }
    }, true);
    document.body.addEventListener("htmx:afterSettle", function (evt) {
      renderDiagrams(evt.target);
      placeBars(evt.target);
    });
  });
}());
