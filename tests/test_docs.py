"""The reference pages of the docs site say what the code does: the configuration table, every
command of the CLI with its options, every operation of the HTTP API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from typer.main import get_command

from config.reference import markdown_table
from tsunagu.cli import app as cli_app
from tsunagu.hub import Hub

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference"

COMMAND_HEADING = re.compile(r"^#{2,3} `(tsunagu(?: [a-z-]+)+)`$", re.MULTILINE)
OPERATION_ROW = re.compile(
    r"^\| `(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)` \| `(/[^`]*)` \|", re.MULTILINE
)
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


def _page(name: str) -> str:
    return (REFERENCE / name).read_text()


def _commands(command: Any, path: tuple[str, ...]) -> dict[str, Any]:
    """Every command and subcommand under ``command``, by its full name ("tsunagu shop add")."""
    found = {}
    for name, sub in getattr(command, "commands", {}).items():
        full = (*path, name)
        found[" ".join(full)] = sub
        found.update(_commands(sub, full))
    return found


def _sections(page: str) -> dict[str, str]:
    """The text under each command heading, up to the next one."""
    headings = list(COMMAND_HEADING.finditer(page))
    return {
        heading.group(1): page[heading.end() : following.start() if following else len(page)]
        for heading, following in zip(headings, [*headings[1:], None], strict=True)
    }


def test_configuration_page_holds_the_table_the_code_generates() -> None:
    assert markdown_table() in _page("configuration.md"), (
        "docs/reference/configuration.md is stale: paste the output of `tsunagu config`"
    )


def test_cli_page_has_a_section_for_every_command_and_no_other() -> None:
    commands = _commands(get_command(cli_app), ("tsunagu",))
    sections = _sections(_page("cli.md"))

    assert set(sections) == set(commands), (
        f"missing from docs/reference/cli.md: {sorted(set(commands) - set(sections))}; "
        f"no such command: {sorted(set(sections) - set(commands))}"
    )


def test_cli_page_names_every_option_and_argument_in_its_command_section() -> None:
    commands = _commands(get_command(cli_app), ("tsunagu",))
    sections = _sections(_page("cli.md"))

    missing = []
    for name, command in commands.items():
        for param in command.params:
            if param.name == "help":
                continue
            if param.param_type_name == "argument":
                words = [param.name.upper()]
            else:
                words = [*param.opts, *param.secondary_opts]
            missing += [f"{name} {word}" for word in words if word not in sections.get(name, "")]
    assert not missing, f"not on docs/reference/cli.md: {missing}"


def test_http_page_lists_exactly_the_operations_of_the_openapi_document(hub: Hub) -> None:
    spec = hub.app.openapi()
    operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    listed = OPERATION_ROW.findall(_page("http.md"))

    assert len(listed) == len(set(listed)), "an operation is listed twice"
    assert set(listed) == operations, (
        f"missing from docs/reference/http.md: {sorted(operations - set(listed))}; "
        f"not in the OpenAPI document: {sorted(set(listed) - operations)}"
    )
