"""Keep the built site self-contained and its pages free of script errors.

Jupyter Book 1 always loads sphinx-thebe, whose inline script names a CDN URL
(unpkg.com) and, in this Sphinx version, is added to every page twice, so the
second copy throws "Identifier 'THEBE_JS_URL' has already been declared". The
book does not use Thebe (launch buttons are off), so its scripts are dropped;
any other script added twice is kept once.

Sphinx's viewcode writes its index of source pages (``_modules/index``) with a
nested ``<ul>`` directly inside a ``<ul>``, which is invalid HTML that screen
readers announce wrongly (axe-core rule ``list``, serious); the nested list is
moved into the list item it belongs to.
"""

import re

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


def nest_lists(html):
    """Move every ``<ul>`` that directly follows a ``</li>`` into that item."""
    out, closers = [], []  # closers: for each open <ul>, what its </ul> must close
    for token in re.split(r"(</li>\s*<ul>|<ul>|</ul>)", html):
        if token.startswith("</li>"):
            out.append("<ul>")
            closers.append("</ul></li>")
        elif token == "<ul>":
            out.append(token)
            closers.append("</ul>")
        elif token == "</ul>":
            out.append(closers.pop() if closers else token)
        else:
            out.append(token)
    return "".join(out)


def fix_module_index(app, pagename, templatename, context, doctree):
    if pagename == "_modules/index" and "body" in context:
        context["body"] = nest_lists(context["body"])


def setup(app):
    app.connect("html-page-context", clean_scripts, priority=900)
    app.connect("html-page-context", fix_module_index)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
