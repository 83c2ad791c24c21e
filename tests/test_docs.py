"""The README stays a short map with working links; every docs page is in the site's nav;
the test command's docs build fails on a broken link."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 200
# [text](target) and ![alt](target); the target ends at whitespace or ")".
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def nav_pages(entries: list) -> set[str]:
    """Return every page file named in an mkdocs nav, however deeply nested."""
    pages: set[str] = set()
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            pages |= nav_pages(value)
        else:
            pages.add(value)
    return pages


def relative_links(markdown: str) -> list[str]:
    """Return the link targets that point into the repository (no scheme, no bare anchor)."""
    targets = MARKDOWN_LINK.findall(markdown)
    return [t for t in targets if not re.match(r"^[a-z]+:", t) and not t.startswith("#")]


def test_every_docs_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = {path.name for path in (ROOT / "docs").glob("*.md")}

    listed = nav_pages(config["nav"])

    assert pages, "docs/ holds no pages"
    assert pages - listed == set(), "pages missing from mkdocs.yml's nav"
    assert listed - pages == set(), "nav entries without a page"


def test_readme_is_a_short_map():
    lines = (ROOT / "README.md").read_text().splitlines()

    assert len(lines) <= README_MAX_LINES


def test_every_relative_link_in_the_readme_exists():
    links = relative_links((ROOT / "README.md").read_text())

    missing = [link for link in links if not (ROOT / link.split("#")[0]).exists()]

    assert links, "the README links to no docs page"
    assert missing == []


def test_the_test_commands_docs_build_fails_on_a_broken_link(tmp_path):
    """Guard the build line in scripts/test.sh: --quiet would hide warnings from --strict."""
    script = (ROOT / "scripts" / "test.sh").read_text().splitlines()
    build = next(line for line in script if "mkdocs build" in line and not line.startswith("#"))
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text() + "\n[gone](no-such-page.md)\n")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

    result = subprocess.run(
        ["bash", "-c", build],
        cwd=tmp_path,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr
