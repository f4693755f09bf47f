"""The README is a front door: short, and every relative link in it leads somewhere.

The docs site itself (mkdocs.yml, docs/) is built with `mkdocs build --strict` by
`./bootstrap.sh test`, which fails on a broken link or anchor there; these checks are
the README's own, as GitHub shows it (no network, no build)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_README_CHARS = 20_000

#: an inline link or image target, `](target)` or `](target "title")`
_INLINE = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: a reference definition, `[name]: target`
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def relative_links(markdown: str) -> list[str]:
    """The relative link targets of a Markdown text, code blocks left out, anchors and
    queries cut off (a link to an anchor of the same page is no file and is skipped)."""
    text = _FENCE.sub("", markdown)
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code: `[a](b)` there is no link
    targets = _INLINE.findall(text) + _REFERENCE.findall(text)
    paths = []
    for target in targets:
        if _SCHEME.match(target) or target.startswith("//"):
            continue  # http:, https:, mailto: …
        path = unquote(re.split(r"[#?]", target, maxsplit=1)[0])
        if path:
            paths.append(path)
    return paths


def test_readme_is_at_most_20000_characters():
    size = len(README.read_text(encoding="utf-8"))
    assert size <= MAX_README_CHARS, (
        f"README.md has {size:,} characters, more than {MAX_README_CHARS:,}: move detail into docs/"
    )


def test_every_relative_link_in_the_readme_exists():
    links = relative_links(README.read_text(encoding="utf-8"))
    # the README links its screenshots and the docs pages: a parser that found none is broken
    assert any(link.startswith("screenshots/") for link in links)
    assert any(link.startswith("docs/") for link in links)
    missing = []
    for link in links:
        target = (ROOT / link).resolve()
        if not target.exists() or not target.is_relative_to(ROOT):
            missing.append(link)
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_the_link_finder_sees_links_and_skips_code_urls_and_anchors():
    markdown = (
        "![shot](screenshots/a.png) and [page](docs/b.md#part)\n"
        "[web](https://example.org/x) [here](#top) `[code](not/a/link.md)`\n"
        '[titled](d.md "a title")\n'
        "```\n[fenced](not/either.md)\n```\n"
        "[ref]: c%20d.md\n"
    )
    assert sorted(relative_links(markdown)) == ["c d.md", "d.md", "docs/b.md", "screenshots/a.png"]
