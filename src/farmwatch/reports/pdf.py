"""The PDF: the report's HTML laid out by WeasyPrint, so both say exactly the same thing.

WeasyPrint needs Pango (``libpango-1.0-0``, ``libpangoft2-1.0-0``) and, for Vietnamese text,
a font with every letter: the page asks for DejaVu Sans (``fonts-dejavu-core``);
``scripts/system-deps.sh`` installs them. Charts are SVG with their text as outlines, so they
need no fonts at all.
"""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["write_pdf"]


def write_pdf(html: str, path: Path) -> Path:
    """Render ``html`` (self-contained: images are data URIs) to ``path``."""
    # WeasyPrint logs its progress at INFO (even while importing: it parses its own default
    # stylesheets) and fontTools every font subset: noise for a CLI user, so before the import.
    for noisy in ("weasyprint", "weasyprint.progress", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    import weasyprint  # type: ignore[import-untyped]

    path.parent.mkdir(parents=True, exist_ok=True)
    weasyprint.HTML(string=html, base_url=str(path.parent)).write_pdf(path)
    return path
