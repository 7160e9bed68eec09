"""The README documents what the code does: its configuration table and its two commands."""

from __future__ import annotations

from pathlib import Path

from config.reference import markdown_table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_configuration_table_is_the_one_the_code_generates() -> None:
    assert markdown_table() in README, "README is stale: paste the output of `tsunagu config`"


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    command = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"
    assert command in README
    assert f'TEST_COMMAND="{command}"' in (ROOT / ".ci" / "run").read_text()
