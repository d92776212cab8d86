"""The gallery is one self-contained HTML file in the package, and it is exactly what its sources build."""

from __future__ import annotations

import re
import subprocess

from mcp_server.app import gallery_html
from tests.browser import needs


def test_the_committed_gallery_is_what_its_sources_build(tmp_path):
    node = needs.node()
    rebuilt = tmp_path / "gallery.html"
    subprocess.run([node, str(needs.APP_DIR / "build.mjs"), str(rebuilt)], cwd=needs.APP_DIR, check=True, timeout=120)
    committed = needs.APP_DIR / "gallery.html"
    assert rebuilt.read_bytes() == committed.read_bytes(), (
        "mcp_server/app/gallery.html does not match its sources: npm run build --prefix mcp_server/app"
    )


def test_the_gallery_loads_nothing_from_anywhere():
    html = gallery_html()
    assert html.startswith("<!doctype html>")
    assert html.count("<script") == 1 and html.count("</script>") == 1  # inline, and never closed early
    assert html.count("<style>") == 1 and "<link" not in html
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", html)  # no stylesheet or font from elsewhere


def test_the_gallery_ships_inside_the_package():
    # read through importlib.resources, as an installed wheel is (pyproject's package-data names the file)
    assert '<main id="root">' in gallery_html()
