// Progressive enhancement only: every page works without JavaScript. No inline scripts (strict CSP).
document.addEventListener("submit", function (event) {
  const button = event.submitter;
  if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});
document.addEventListener("click", function (event) {
  const target = event.target.closest("[data-copy]");
  if (!target) return;
  const source = document.getElementById(target.dataset.copy);
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.value || source.textContent);
    target.textContent = target.dataset.copied || "Copié";
  }
});
document.addEventListener("DOMContentLoaded", function () {
  // Scrollable table boxes must be reachable with the keyboard (axe scrollable-region-focusable).
  document.querySelectorAll(".table-wrap").forEach(function (box) {
    if (box.scrollWidth > box.clientWidth && !box.hasAttribute("tabindex")) {
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      const caption = box.querySelector("caption, th");
      box.setAttribute("aria-label", caption ? caption.textContent.trim() : "Tableau");
    }
  });
  const summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
  document.querySelectorAll("[data-progress-url]").forEach(function (el) {
    const poll = function () {
      fetch(el.dataset.progressUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
        if (data.done) { window.location.reload(); return; }
        if (data.progress) { el.textContent = data.progress; }
        setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 1000);
  });
});
