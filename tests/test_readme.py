"""The README gives the test command CI runs, stays short, and links into the docs site."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    command = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"
    assert command in README
    assert f'TEST_COMMAND="{command}"' in (ROOT / ".ci" / "run").read_text()


def test_readme_is_short_and_its_links_reach_docs_pages() -> None:
    assert len(README.splitlines()) <= 250, "the README links to docs/; put the details there"
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)

    assert links
    assert [link for link in links if not (ROOT / link).is_file()] == []
