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

// Search result snippets quote the page's text, where every formula is still its TeX source
// ("\(\mathbf p - \mathbf e_y\)"). Before Sphinx's search summarises a page, each formula is
// rewritten as plain text ("p − e_y"): readable, and still matching the words searched for.
const TEX_SYMBOLS = {
  alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", eta: "η",
  theta: "θ", lambda: "λ", mu: "μ", pi: "π", sigma: "σ", tau: "τ", phi: "φ", Phi: "Φ",
  Sigma: "Σ", Delta: "Δ", sum: "Σ", prod: "Π", le: "≤", leq: "≤", ge: "≥", geq: "≥", ne: "≠",
  neq: "≠", approx: "≈", infty: "∞", cdot: "·", times: "×", to: "→", in: "∈", partial: "∂",
  nabla: "∇", ldots: "…", dots: "…", cdots: "…", mid: "|", lvert: "|", rvert: "|", lVert: "‖",
  rVert: "‖", langle: "⟨", rangle: "⟩", sqrt: "√", pm: "±", odot: "⊙", top: "ᵀ", ast: "*",
  star: "⋆", quad: " ", qquad: " ", log: "log", exp: "exp", max: "max", min: "min",
};

function plainMath(tex) {
  let text = tex.replace(/\\[()[\]]|\$\$/g, " ").replace(/\\(begin|end)\{[^}]*\}/g, " ");
  text = text.replace(/\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, "($1)/($2)");
  text = text.replace(/\\(mathbf|mathrm|operatorname|mathcal|mathbb|text|textstyle|displaystyle|left|right|big|Big|bigl|bigr|Bigl|Bigr)\b\s*/g, "");
  text = text.replace(/\\([A-Za-z]+)/g, (whole, name) => TEX_SYMBOLS[name] ?? name);
  text = text.replace(/\\[,;:! ]/g, " ").replace(/\\\\/g, "; ").replace(/[{}]/g, "");
  return ` ${text.replace(/\s+/g, " ").trim()} `;
}

document.addEventListener("DOMContentLoaded", () => {
  // searchtools.js declares `const Search`: a global binding, not a property of window.
  if (typeof Search === "undefined" || typeof Search.htmlToText !== "function") return;
  const htmlToText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(".math").forEach((math) => {
      math.textContent = plainMath(math.textContent);
    });
    return htmlToText(doc.documentElement.outerHTML, anchor);
  };
});

// Figures open at full size: each image a cell drew links to its PNG (on a phone the column
// shrinks a figure, and a reader can zoom the full-size one).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".cell_output img").forEach((img) => {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.className = "xent-full-size";
    link.title = "Open the figure at full size";
    img.replaceWith(link);
    link.appendChild(img);
  });
});

// Inline formulas wider than their line (MathJax 3 cannot break inline math) scroll sideways in
// their own box instead of being cut off by the column: marked once MathJax has typeset the page
// and again when the window changes size.
function markWideInlineMath() {
  document.querySelectorAll("mjx-container:not([display='true'])").forEach((math) => {
    math.classList.remove("xent-wide-math");
    const block = math.closest("p, li, td, th, dd, div");
    if (block && math.getBoundingClientRect().width > block.clientWidth) {
      math.classList.add("xent-wide-math");
    }
  });
}

window.addEventListener("load", () => {
  const typeset = window.MathJax?.startup?.promise;
  (typeset ? typeset : Promise.resolve()).then(markWideInlineMath);
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(markWideInlineMath, 100);
  });
});
