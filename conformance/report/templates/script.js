// Open every finding for printing, and restore afterwards; buttons to expand or collapse all.
(function () {
  var opened = [];
  window.addEventListener("beforeprint", function () {
    opened = [];
    document.querySelectorAll("details:not([open])").forEach(function (d) { d.open = true; opened.push(d); });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });
  document.querySelectorAll("[data-details]").forEach(function (b) {
    b.addEventListener("click", function () {
      var open = b.getAttribute("data-details") === "open";
      document.querySelectorAll("details.finding").forEach(function (d) { d.open = open; });
    });
  });
  // Following a link from the matrix opens the finding it points to.
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === "DETAILS") { el.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
