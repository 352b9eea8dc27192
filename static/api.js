// The API page's Copy buttons: copy the text of the element named by data-copy
// (no inline script: our CSP forbids it). Without JavaScript the text stays selectable.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) {
    return;
  }
  var source = document.querySelector(button.getAttribute("data-copy"));
  if (!source) {
    return;
  }
  navigator.clipboard.writeText(source.textContent.trim()).then(function () {
    var label = button.textContent;
    button.textContent = "\u2713";
    setTimeout(function () { button.textContent = label; }, 1500);
  });
});
