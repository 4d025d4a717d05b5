"""The legal notice and the short account of what is stored, read from their one home,
`docs/privacy.md` (between `<!-- app:NAME -->` markers), for the app's banner, its privacy tab and
the HTML report. `$CLASSMOOD_DOCS` names the docs folder where the package is installed without the
repository beside it (the Docker image sets it)."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path


def docs_dir() -> Path:
    return Path(os.environ.get("CLASSMOOD_DOCS") or Path(__file__).resolve().parent.parent / "docs")


@cache
def section(name: str) -> str:
    """The text between `<!-- app:name -->` and `<!-- /app:name -->` in docs/privacy.md, its lines
    joined into one paragraph."""
    path = docs_dir() / "privacy.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RuntimeError(f"the app shows its legal notice from {path}, which cannot be read ({e}); "
                           "run it from the repository or set CLASSMOOD_DOCS to its docs folder") from e
    m = re.search(rf"<!-- app:{name} -->\s*(.*?)\s*<!-- /app:{name} -->", text, re.S)
    if m is None:
        raise RuntimeError(f"{path} has no '<!-- app:{name} -->' section")
    return " ".join(m.group(1).split())


NOTICE = section("notice")
STORED = section("stored")
