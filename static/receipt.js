// The receipt's Print button (no inline script: our CSP forbids it).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
