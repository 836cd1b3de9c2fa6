// Site navigation on every screen width.
//
// pydata-sphinx-theme 0.17 added its own sidebar buttons to the top bar, which sphinx-book-theme
// hides; both themes' scripts then bind only the first `.primary-toggle` / `.secondary-toggle` in the
// page (those hidden ones), so the visible buttons in the article header did nothing: no drawer on a
// phone, no collapsing sidebar on a desktop (pydata-sphinx-theme#2451, sphinx-book-theme#988).
// A click on any other toggle is handed to the bound one, which then does what the theme intends.
document.addEventListener("DOMContentLoaded", () => {
  for (const kind of [".primary-toggle", ".secondary-toggle"]) {
    const [bound, ...others] = document.querySelectorAll(kind);
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation();
        bound.click();
      });
    }
  }
});

// Accessible names that match what is on screen (axe: label-content-name-mismatch, region).
document.addEventListener("DOMContentLoaded", () => {
  // The search field shows "Search Ctrl+K": let that text be its name.
  document.querySelectorAll(".search-button-field").forEach((b) => b.removeAttribute("aria-label"));
  // The colour-mode button is named "Color mode"; its icons' tooltips are not part of the name.
  document.querySelectorAll(".theme-switch-button i").forEach((icon) => {
    icon.removeAttribute("title");
    icon.setAttribute("aria-hidden", "true");
  });
  // The site title in the sidebar belongs to a landmark, like the navigation below it.
  const sidebar = document.querySelector(".bd-sidebar-primary");
  if (sidebar && !sidebar.hasAttribute("role")) {
    sidebar.setAttribute("role", "complementary");
    sidebar.setAttribute("aria-label", "Site");
  }
});
