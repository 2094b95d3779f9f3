"""The README is the front door and docs/ holds the rest: the README stays short, and every
relative link in them leads to a file, and to a heading of it when the link names one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text without code blocks and inline code, where brackets are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """The fragment of each heading, as GitHub makes it (duplicates get -1, -2 ...)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page.read_text())) if not re.match(r"[a-z][a-z+.-]*:", target)]


def test_the_docs_pages_exist() -> None:
    names = {page.name for page in PAGES if page != README}
    assert names >= {"api.md", "behaviour.md", "security.md", "deploy.md", "performance.md", "development.md"}


def test_the_readme_is_at_most_200_lines() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail to docs/"


def test_the_readme_names_the_command_ci_runs() -> None:
    assert "make test" in README.read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, fragment = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{target}: no such heading")
    assert not broken, broken


def test_the_link_checker_sees_links_and_headings() -> None:
    """The checks above would pass on pages it could not read: make sure it reads these."""
    assert {"docs/api.md", "docs/development.md"} <= {target.partition("#")[0] for target in relative_links(README)}
    assert "serving-the-api-under-apiv1" in anchors(ROOT / "docs" / "deploy.md")
    assert "what-keeps-cold-starts-above-the-110-target" in anchors(ROOT / "docs" / "performance.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_flows_are_named_after_what_they_do(page: Path) -> None:
    assert not re.search(r"\bseed\b", page.read_text(), re.IGNORECASE)
