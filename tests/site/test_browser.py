"""Open every page of the built site in headless Chromium.

The site is served from _build/html on 127.0.0.1. For every HTML page the test
fails if the page
- attempts a request to any other host (every such request is aborted),
- has a failed request, a JavaScript error or a console error,
- leaves an equation untypeset (raw ``$$``, ``\\(`` or ``\\[`` in the rendered
  text, or a Sphinx math element without MathJax output, or a MathJax error),
- shows an image without alt text or an image that did not load.
Screenshots of the landing page and of one chapter are kept under _build/screenshots/.

Run ``make book`` (or ``make test-build``) first. Without Chromium this module
is skipped loudly, unless XENT_REQUIRE_BROWSER=1 (as in .ci/run), where it fails.
"""

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Every page a reader can open: the book's pages and the package's highlighted source (viewcode).
PAGES = sorted(
    p.relative_to(SITE).as_posix()
    for p in SITE.rglob("*.html")
    if (top := p.relative_to(SITE).parts[0]) == "_modules" or not top.startswith("_")
) if SITE.is_dir() else []
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# The smallest text in a figure is the style's 9 pt at 110 dpi, 13.75 px at full size; shown at
# this fraction of its size or more it stays at least 10 px on a desktop.
MIN_FIGURE_SCALE = 0.75

if not Path(CHROMIUM).exists():
    message = "Chromium is not installed (apt-get install -y chromium): browser check SKIPPED"
    if os.environ.get("XENT_REQUIRE_BROWSER") == "1":
        raise RuntimeError(message.replace("SKIPPED", "required by XENT_REQUIRE_BROWSER=1"))
    pytest.skip(message, allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

# Everything MathJax left as text, outside code blocks.
UNTYPESET_JS = """
() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, mjx-container, .MathJax, textarea')
      .forEach(e => e.remove());
  const text = body.textContent;
  const mathElements = [...document.querySelectorAll('.math')];
  return {
    raw: ['$$', '\\\\(', '\\\\)', '\\\\[', '\\\\]'].filter(s => text.includes(s)),
    mathCount: mathElements.length,
    untypeset: mathElements.filter(e => !e.querySelector('mjx-container'))
                            .map(e => e.textContent.slice(0, 80)),
    errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80)),
  };
}
"""

# Tables in the article that are wider than it and not inside a box that scrolls sideways.
CUT_TABLES_JS = """
() => {
  const article = document.querySelector('article');
  if (!article) return [];
  const right = article.getBoundingClientRect().right;
  return [...article.querySelectorAll('table')].filter(table => {
    if (table.getBoundingClientRect().right <= right + 1) return false;
    for (let box = table.parentElement; box && box !== article; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if ((overflow === 'auto' || overflow === 'scroll') && box.clientWidth < box.scrollWidth) {
        return false;
      }
    }
    return true;
  }).map(table => table.innerText.slice(0, 60));
}
"""

IMAGES_JS = """
() => [...document.querySelectorAll('article img, main img')].map(img => ({
  src: img.getAttribute('src'), alt: (img.getAttribute('alt') || '').trim(),
  loaded: img.complete && img.naturalWidth > 0,
  figure: !!img.closest('.cell_output'),
  scale: img.naturalWidth ? img.getBoundingClientRect().width / img.naturalWidth : 0,
  link: img.closest('a') ? img.closest('a').getAttribute('href') : null,
}))
"""

# Formulas that stick out of the article and are not inside a box the reader can scroll.
CLIPPED_MATH_JS = """
() => {
  const article = document.querySelector('article');
  if (!article) return {clipped: [], scrolling: 0};
  const right = article.getBoundingClientRect().right;
  let scrolling = 0;
  const clipped = [...article.querySelectorAll('mjx-container')].filter(math => {
    if (math.getBoundingClientRect().right <= right + 1) return false;
    for (let box = math; box && box !== article; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if ((overflow === 'auto' || overflow === 'scroll') && box.clientWidth < box.scrollWidth
          && box.getBoundingClientRect().right <= right + 1) {
        scrolling += 1;
        return false;
      }
    }
    return true;
  }).map(math => (math.querySelector('mjx-assistive-mml') || math).textContent.slice(0, 60));
  return {clipped, scrolling};
}
"""


WAIT_FOR_MATHJAX_JS = """
() => window.MathJax && MathJax.startup && MathJax.startup.promise
      ? MathJax.startup.promise.then(() => true) : true
"""


def open_and_typeset(page, url):
    """Load ``url``, follow any redirect (index.html is one), wait for MathJax."""
    page.goto(url, wait_until="networkidle")
    for _ in range(3):
        try:
            page.evaluate(WAIT_FOR_MATHJAX_JS)
            return
        except sync_api.Error as error:  # a meta-refresh navigated away mid-evaluation
            if "context was destroyed" not in str(error):
                raise
            page.wait_for_load_state("networkidle")
    raise AssertionError(f"{url} kept navigating; MathJax never settled")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").is_file():
        pytest.fail("no built site in _build/html: run `make book` or `make test-build` first")
    handler = functools.partial(QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=LAUNCH_FLAGS
        )
        yield browser
        browser.close()


def test_site_has_pages():
    assert "index.html" in PAGES, f"no index.html among the built pages {PAGES[:5]}"
    assert any(p.startswith("chapters/") for p in PAGES), "no chapter page was built"


@pytest.mark.browser
@pytest.mark.parametrize("page_path", PAGES)
def test_page(page_path, server, browser):
    own_host = urlsplit(server).netloc
    offsite, failed, console_errors = [], [], []

    context = browser.new_context(viewport=DESKTOP)

    def guard(route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != own_host:
            offsite.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.url} (HTTP {r.status})"))
    page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
    page.on("pageerror", lambda e: console_errors.append(f"uncaught: {e}"))

    open_and_typeset(page, f"{server}/{page_path}")
    math = page.evaluate(UNTYPESET_JS)
    images = page.evaluate(IMAGES_JS)
    cut_tables = page.evaluate(CUT_TABLES_JS)
    # a list directly inside a list is invalid HTML that screen readers misread (viewcode's index)
    bad_lists = page.evaluate("() => document.querySelectorAll('ul > ul, ol > ul, ul > ol').length")

    if page_path == first_chapter():  # guard against a vacuous pass: the chapter has typeset math
        typeset = page.evaluate("() => document.querySelectorAll('mjx-container').length")
        assert math["mathCount"] > 0 and typeset > 0, f"{page_path} shows no typeset equation"
    if page_path == "index.html":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)
    if page_path == first_chapter():
        screenshots(page, page_path)

    # The same page on a phone: no formula or table cut off at the column's edge.
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)  # course.js re-marks wide formulas 100 ms after a resize
    phone_math = page.evaluate(CLIPPED_MATH_JS)
    phone_tables = page.evaluate(CUT_TABLES_JS)
    context.close()

    assert not offsite, f"{page_path} tried to reach other hosts: {offsite}"
    assert not failed, f"{page_path}: failed requests {failed}"
    assert not console_errors, f"{page_path}: JavaScript errors {console_errors}"
    assert not math["raw"], f"{page_path}: untypeset TeX delimiters {math['raw']} in the page text"
    assert not math["untypeset"], f"{page_path}: equations left as text: {math['untypeset']}"
    assert not math["errors"], f"{page_path}: MathJax errors: {math['errors']}"
    no_alt = [img["src"] for img in images if not img["alt"]]
    assert not no_alt, f"{page_path}: images without alt text: {no_alt}"
    broken = [img["src"] for img in images if not img["loaded"]]
    assert not broken, f"{page_path}: images that did not load: {broken}"
    assert not cut_tables, f"{page_path}: tables cut off at the column's edge: {cut_tables}"
    assert not bad_lists, f"{page_path}: {bad_lists} lists nested directly in a list"
    small = [(img["src"], round(img["scale"], 2)) for img in images
             if img["figure"] and img["scale"] < MIN_FIGURE_SCALE]
    assert not small, (
        f"{page_path}: figures shrunk below {MIN_FIGURE_SCALE:.0%} at 1280 px, so their text is"
        f" under 10 px (draw them narrower, at most the column's width): {small}"
    )
    unlinked = [img["src"] for img in images if img["figure"] and img["link"] != img["src"]]
    assert not unlinked, f"{page_path}: figures without a link to their full size: {unlinked}"
    assert not phone_math["clipped"], (
        f"{page_path}: {len(phone_math['clipped'])} formulas cut off at 390 px with no way to"
        f" scroll: {phone_math['clipped'][:10]}"
    )
    assert not phone_tables, f"{page_path}: tables cut off at 390 px: {phone_tables}"


def screenshots(page, page_path):
    """The page's top at 1280 and 390 px, light and dark (kept as CI artifacts)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = page_path.replace("/", "_").removesuffix(".html")
    for viewport, size in ((DESKTOP, "1280"), (PHONE, "390")):
        page.set_viewport_size(viewport)
        for mode in ("light", "dark"):
            page.evaluate(
                "mode => { document.documentElement.dataset.theme = mode;"
                " document.documentElement.dataset.mode = mode; }", mode)
            page.wait_for_timeout(150)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}-{mode}.png"))
    page.evaluate("() => { document.documentElement.dataset.theme = 'light';"
                  " document.documentElement.dataset.mode = 'light'; }")
    page.set_viewport_size(DESKTOP)


def first_chapter():
    chapters = [p for p in PAGES if p.startswith("chapters/")]
    return chapters[0] if chapters else None


def open_page(browser, server, width, height, path="intro.html"):
    """A light page at the given viewport, loaded but not waited on for MathJax."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/{path}", wait_until="load")
    return context, page, errors


def dialog_is_open(page, selector):
    return page.evaluate(f"() => document.querySelector('{selector}')?.open === true")


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), [(390, 844), (768, 1024)], ids=["phone", "tablet"])
def test_phone_reader_can_open_navigation_and_contents(server, browser, width, height):
    """Tapping the visible menu and contents buttons opens the drawers (see _static/course.js)."""
    context, page, errors = open_page(browser, server, width, height)
    assert page.locator("#pst-header").bounding_box() is None, "the empty top bar is back"
    menu = page.locator(".bd-header-article .primary-toggle")
    assert menu.is_visible(), f"no visible navigation button at {width} px"
    menu.click()
    page.wait_for_timeout(300)
    assert dialog_is_open(page, "#pst-primary-sidebar-modal"), f"menu opened nothing at {width} px"
    links = page.locator("#pst-primary-sidebar-modal a.reference.internal")
    assert links.count() >= 10 and links.first.is_visible(), "the drawer shows no chapters"
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    assert not dialog_is_open(page, "#pst-primary-sidebar-modal")

    contents = page.locator(".bd-header-article .secondary-toggle")
    assert contents.is_visible(), f"no visible contents button at {width} px"
    contents.click()
    page.wait_for_timeout(300)
    assert dialog_is_open(page, "#pst-secondary-sidebar-modal"), f"no contents at {width} px"
    assert page.locator("#pst-secondary-sidebar-modal nav.page-toc a").first.is_visible()
    context.close()
    assert not errors, errors


@pytest.mark.browser
def test_desktop_menu_button_collapses_and_restores_the_sidebar(server, browser):
    context, page, errors = open_page(browser, server, 1280, 900)
    sidebar = page.locator("#pst-primary-sidebar")
    assert sidebar.is_visible()
    menu = page.locator(".bd-header-article .primary-toggle")
    menu.click()
    page.wait_for_timeout(600)  # the theme animates for 0.25 s
    assert not sidebar.is_visible(), "the menu button did not collapse the sidebar at 1280 px"
    assert not dialog_is_open(page, "#pst-primary-sidebar-modal"), "a drawer popped up instead"
    menu.click()
    page.wait_for_timeout(600)
    assert sidebar.is_visible(), "the sidebar did not come back"
    context.close()
    assert not errors, errors


@pytest.mark.browser
def test_printed_code_wraps_instead_of_being_cut(server, browser):
    context, page, errors = open_page(browser, server, 1280, 900,
                                      path="chapters/07_binary_multiclass_multilabel.html")
    page.emulate_media(media="print")
    cut = page.evaluate("""() => [...document.querySelectorAll('article pre')]
        .filter(pre => getComputedStyle(pre).whiteSpace !== 'pre-wrap'
                       || pre.scrollWidth > pre.clientWidth + 1)
        .map(pre => pre.innerText.slice(0, 60))""")
    context.close()
    assert not cut, f"code that would be cut on paper: {cut[:3]} ({len(cut)} blocks)"


@pytest.mark.browser
@pytest.mark.parametrize("query", ["softmax", "gradient"])
def test_search_snippets_read_as_text_not_tex(server, browser, query):
    context, page, errors = open_page(browser, server, 1280, 900, path=f"search.html?q={query}")
    page.wait_for_selector("#search-results ul.search li", timeout=20_000)
    page.wait_for_function(
        "() => document.querySelectorAll('#search-results p.context').length >= 5", timeout=20_000)
    snippets = page.locator("#search-results p.context").all_inner_texts()
    context.close()
    assert not errors, errors
    tex = [s[:100] for s in snippets if re.search(r"\\[A-Za-z(\[]|\$\$", s)]
    assert not tex, f"search snippets for {query!r} show TeX source: {tex[:3]}"
    assert any(query in s.lower() for s in snippets), f"no snippet mentions {query!r}"


# --- accessibility (make test-a11y; about 20 s per chapter and colour mode on 2 cores, so not
# part of make test, whose budget is 5 minutes) ---------------------------------------------

def axe_source():
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


@pytest.mark.a11y
@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("page_path", [p for p in PAGES if p != "index.html"])
def test_axe_finds_no_serious_violation(page_path, mode, server, browser):
    """axe-core's WCAG 2 A/AA rules: no serious or critical violation, in light and dark mode."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=mode)
    page = context.new_page()
    open_and_typeset(page, f"{server}/{page_path}")
    page.evaluate(f"() => document.documentElement.dataset.theme = '{mode}'")
    page.add_script_tag(content=axe_source())
    violations = page.evaluate("""() => axe.run(document, {resultTypes: ['violations']})
        .then(r => r.violations.map(v => ({
            id: v.id, impact: v.impact,
            where: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))""")
    context.close()
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, f"{page_path} ({mode}): {serious}"
