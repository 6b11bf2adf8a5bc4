// The console's only script besides htmx: CSRF header on htmx requests, the PHQ-9 total as
// the coach answers, and the treatment-day clocks pushed by Server-Sent Events.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (csrf) { event.detail.headers["X-CSRF-Token"] = csrf.content; }
  });

  var phq9 = document.getElementById("phq9-form");
  function total() {
    var sum = 0, answered = 0;
    phq9.querySelectorAll("input[type=radio]:checked").forEach(function (input) {
      sum += Number(input.value); answered += 1;
    });
    document.getElementById("phq9-total").textContent = sum;
    document.getElementById("phq9-answered").textContent = answered;
  }
  if (phq9) { phq9.addEventListener("change", total); total(); }

  var clocks = document.querySelector("[data-clocks]");
  if (clocks && window.EventSource) {
    var source = new EventSource(clocks.getAttribute("data-clocks"));
    source.addEventListener("clocks", function (event) { clocks.innerHTML = event.data; });
    window.addEventListener("pagehide", function () { source.close(); });
  }
})();
