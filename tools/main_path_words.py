"""Count the words of each chapter's main path: the prose a reader meets without opening anything.

    python tools/main_path_words.py                   # one line per page
    python tools/main_path_words.py --sections FILE   # per heading, to see where the words are

Counted: the Markdown of the notebook's markdown cells (or of a ``.md`` page), headings, lists and
tables included. Not counted (the editorial rule of the course): code (fenced blocks, inline code,
code cells), math (``$...$``, ``$$...$$``, ``{math}`` and amsmath environments), exercises and
solutions, and collapsed blocks (``{dropdown}``, ``{toggle}`` and any directive with
``:class: dropdown``), and cells tagged ``remove-cell`` or ``remove-input``. A cross-reference or a
glued number counts as one word. A word is a run of letters or digits (with inner ``'`` or ``-``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 3500
HIDDEN_DIRECTIVES = {"exercise", "solution", "dropdown", "toggle", "math", "code", "code-block",
                     "code-cell", "glue:figure", "glue:math", "raw", "bibliography"}
OPEN = re.compile(r"^\s*(?P<fence>`{3,}|:{3,})\s*(?:\{(?P<name>[\w:.-]+)\})?(?P<rest>.*)$")
OPTION = re.compile(r"^\s*:[\w-]+:")
WORD = re.compile(r"[^\W_](?:[\w'’-]*[^\W_])?")
ROLE = re.compile(r"\{(?P<role>[\w:.-]+)\}`(?P<body>[^`]*)`")


def markdown_of(path: Path) -> list[str]:
    """The Markdown of a page: each markdown cell of a notebook, or the whole ``.md`` file."""
    if path.suffix == ".md":
        return [path.read_text(encoding="utf-8")]
    notebook = json.loads(path.read_text(encoding="utf-8"))
    blocks = []
    for cell in notebook["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] == "markdown" and not tags & {"remove-cell", "remove-input"}:
            blocks.append("".join(cell["source"]))
    return blocks


def visible_lines(markdown: str) -> list[str]:
    """The lines outside code fences, math blocks, exercises, solutions and collapsed blocks."""
    lines = markdown.splitlines()
    kept: list[str] = []
    stack: list[tuple[str, bool]] = []  # (fence, hidden) of each open fenced block
    in_display_math = False
    i = 0
    while i < len(lines):
        line = lines[i]
        hidden_now = any(hidden for _, hidden in stack)
        closing = stack and re.fullmatch(
            re.escape(stack[-1][0][0]) + "{" + str(len(stack[-1][0])) + ",}", line.strip())
        if closing:
            stack.pop()
            i += 1
            continue
        match = OPEN.match(line)
        if match and not in_display_math:
            name = match["name"]
            # A plain ``` fence is code; a directive is hidden if it is one of HIDDEN_DIRECTIVES
            # or declares :class: dropdown among its options.
            hidden = name is None or name in HIDDEN_DIRECTIVES
            j = i + 1
            while j < len(lines) and OPTION.match(lines[j]):
                if re.match(r"^\s*:class:.*\bdropdown\b", lines[j]):
                    hidden = True
                j += 1
            if name is None and match["fence"][0] == ":":
                hidden = False  # a bare ::: is not a fence
            else:
                stack.append((match["fence"], hidden))
                if not (hidden or hidden_now) and match["rest"].strip():
                    kept.append(match["rest"])  # an admonition's title is prose
                i = j
                continue
        if line.strip().startswith("$$"):
            rest = line.strip()[2:]
            if not in_display_math and rest.rstrip().endswith("$$") and len(rest.strip()) >= 2:
                i += 1
                continue  # one-line display math
            in_display_math = not in_display_math
            i += 1
            continue
        if in_display_math or hidden_now:
            i += 1
            continue
        kept.append(line)
        i += 1
    return kept


def words_in(text: str) -> int:
    """Words of prose in Markdown text that is already outside hidden blocks."""
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", " ", text, flags=re.S)
    text = re.sub(r"\$[^$]+\$", " ", text)

    def role(match: re.Match) -> str:
        body = match["body"]
        if "<" in body and match["role"] != "math":
            return body.split("<")[0]
        return " word "

    text = ROLE.sub(role, text)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"^\s*\([\w:-]+\)=\s*$", " ", text, flags=re.M)  # targets
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link destinations
    return len(WORD.findall(text))


def ungated(blocks: list[str]) -> list[str]:
    """The blocks without what lies between ``{solution-start}`` and ``{solution-end}`` (or the
    exercise gates): sphinx-exercise's gated form spans several cells."""
    kept, inside = [], False
    for block in blocks:
        lines, skip_to_fence = [], None
        for line in block.splitlines():
            if skip_to_fence:  # the rest of a gate directive: its options and closing fence
                if line.strip() == skip_to_fence:
                    skip_to_fence = None
                continue
            gate = re.match(r"^\s*(`{3,}|:{3,})\{(?:solution|exercise)-(start|end)\}", line)
            if gate:
                inside, skip_to_fence = gate[2] == "start", gate[1]
            elif not inside:
                lines.append(line)
        kept.append("\n".join(lines))
    return kept


def count(path: Path) -> int:
    return sum(words_in("\n".join(visible_lines(block))) for block in ungated(markdown_of(path)))


def by_section(path: Path) -> list[tuple[str, int]]:
    sections: list[tuple[str, int]] = []
    title, total = "(before the first heading)", 0
    for block in ungated(markdown_of(path)):
        for line in visible_lines(block):
            if re.match(r"^#{1,6} ", line):
                sections.append((title, total))
                title, total = line.strip(), 0
            total += words_in(line)
    sections.append((title, total))
    return sections


def pages() -> list[Path]:
    return sorted((ROOT / "chapters").glob("[0-9]*.ipynb")) + sorted(
        (ROOT / "chapters").glob("[0-9]*/*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=Path, help="break one page down by heading")
    parser.add_argument("paths", nargs="*", type=Path, help="pages (default: every chapter)")
    args = parser.parse_args(argv)
    if args.sections:
        for title, words in by_section(args.sections):
            print(f"{words:6d}  {title}")
        return 0
    over = 0
    for path in args.paths or pages():
        words = count(path)
        over += words > LIMIT
        flag = "" if words <= LIMIT else f"  over {LIMIT}"
        print(f"{words:6d}  {path.relative_to(ROOT) if path.is_absolute() else path}{flag}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
