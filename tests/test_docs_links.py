"""The links between the documentation pages resolve, anchors included, and mkdocs lists every page.

The anchors are made by the slug rule of Python-Markdown's ``toc`` extension, which mkdocs uses
(``markdown.extensions.toc.slugify``), computed here independently of it.
"""

import functools
import re
import unicodedata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def slug(heading: str) -> str:
    """The anchor Python-Markdown gives a heading (inline code marks and links reduced to text)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def prose_lines(page: Path) -> list[str]:
    """The lines of a page outside fenced code blocks."""
    lines, fenced = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


@functools.cache
def anchors(page: Path) -> frozenset[str]:
    """The anchors of a page's headings, with the ``_1``, ``_2`` suffixes of repeated ones."""
    found: set[str] = set()
    for line in prose_lines(page):
        match = HEADING.match(line)
        if match:
            base = anchor = slug(match.group(1))
            count = 0
            while anchor in found:
                count += 1
                anchor = f"{base}_{count}"
            found.add(anchor)
    return frozenset(found)


def test_slug_matches_python_markdown_on_known_headings() -> None:
    assert slug("Follow-up 5: the synthetic Hapke studies on mixtures scaled into [0, 1]") == (
        "follow-up-5-the-synthetic-hapke-studies-on-mixtures-scaled-into-0-1"
    )
    assert slug("Follow-up 14: spectral flip, follow-up 8's runner-up") == (
        "follow-up-14-spectral-flip-follow-up-8s-runner-up"
    )
    assert slug("Soil maps (`eospec map`)") == "soil-maps-eospec-map"


def test_repeated_headings_get_numbered_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Results\n\n```bash\n# not a heading\n```\n\n## Results\n")
    assert anchors(page) == {"title", "results", "results_1"}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    broken = []
    for line in prose_lines(page):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
                continue
            path_part, _, anchor = target.partition("#")
            linked = (page.parent / path_part).resolve() if path_part else page
            if not linked.exists():
                broken.append(f"{target}: no file {linked}")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
    assert not broken, f"broken links in {page.name}:\n" + "\n".join(broken)


def test_mkdocs_nav_lists_every_page() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = {page for entry in config["nav"] for page in entry.values()}
    on_disk = {page.name for page in (ROOT / "docs").glob("*.md")}
    assert listed == on_disk, f"missing from nav: {on_disk - listed}; not on disk: {listed - on_disk}"
