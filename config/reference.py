"""The configuration table of the docs (`docs/reference/configuration.md`), generated from
:class:`config.Settings`."""

from __future__ import annotations

from pydantic import SecretStr

from config.settings import Settings


def markdown_table() -> str:
    """One row per setting: variable, default, meaning."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    prefix = Settings.model_config.get("env_prefix", "")
    for name, field in Settings.model_fields.items():
        default = field.default
        if default is None:
            shown = "(unset)"
        elif isinstance(default, SecretStr):
            shown = "(secret)"
        else:
            shown = f"`{default}`"
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name.upper()}` | {shown} | {description} |")
    return "\n".join(rows)
