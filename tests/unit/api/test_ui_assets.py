"""The pages' JavaScript stays small and comes from the package, never from a CDN."""

from __future__ import annotations

import gzip
import re

from orchestrator.ui import STATIC

BUDGET_GZIP = 25 * 1024
TEMPLATES = STATIC.parent / "templates"


def test_every_script_the_pages_load_fits_in_25_kb_gzipped() -> None:
    scripts = sorted(STATIC.rglob("*.js"))
    names = {p.name for p in scripts}
    assert {"ui.js", "htmx.min.js"} <= names, "run infra/up: it installs htmx into static/vendor"
    total = sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in scripts)
    assert total <= BUDGET_GZIP, f"{total} bytes gzipped"


def test_the_templates_load_scripts_and_styles_from_the_package_only() -> None:
    for template in TEMPLATES.glob("*.html"):
        for src in re.findall(r'(?:src|href)="(https?:)?//', template.read_text()):
            raise AssertionError(f"{template.name} loads from another origin ({src})")
        for url in re.findall(r'<script[^>]*src="([^"]+)"', template.read_text()):
            assert url.startswith("/ui/static/"), f"{template.name}: {url}"
