"""Keep the built site self-contained and its pages free of script errors.

Jupyter Book 1 always loads sphinx-thebe, whose inline script names a CDN URL
(unpkg.com) and, in this Sphinx version, is added to every page twice, so the
second copy throws "Identifier 'THEBE_JS_URL' has already been declared". The
book does not use Thebe (launch buttons are off), so its scripts are dropped;
any other script added twice is kept once.
"""

THEBE_MARKERS = ("THEBE_JS_URL", "sphinx-thebe.js", "unpkg.com/thebe")


def _describe(script):
    return (str(script.filename), tuple(sorted(script.attributes.items())))


def clean_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = _describe(script)
        if key in seen or any(marker in repr(key) for marker in THEBE_MARKERS):
            continue
        seen.add(key)
        kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", clean_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
