"""MkDocs hook: the site's front page is README.md itself (docs/index.md links to it).

The README links into docs/ as `docs/capacity.md` and to `ARCHITECTURE.md`, which is
right on GitHub and in a checkout; on the site the page lives inside docs/, so those
links are pointed at the pages beside it (`capacity.md`, `architecture.md`). Nothing
else of the README changes, and every other page is left alone."""

from __future__ import annotations

import re
from typing import Any

_DOCS_LINK = re.compile(r"\]\(docs/")
_ARCHITECTURE_LINK = re.compile(r"\]\(ARCHITECTURE\.md")


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if page.file.src_uri != "index.md":
        return markdown
    markdown = _DOCS_LINK.sub("](", markdown)
    return _ARCHITECTURE_LINK.sub("](architecture.md", markdown)
