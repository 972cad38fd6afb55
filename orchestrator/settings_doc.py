"""Every ``SLUICE_*`` variable, read off the settings classes themselves.

``python -m orchestrator.settings_doc`` writes docs/settings.md; a unit test fails when the
file and the classes disagree, or when the source reads a ``SLUICE_*`` variable that no
settings class does. Each class's ``from_env`` is called with an environment that records
what it asks for (and the default it falls back to), so the list cannot drift from the code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.api.settings import ApiSettings
from orchestrator.client import Connection, config_path
from projections.log_retention import LogLinesSettings
from projections.notify_settings import NotifierSettings
from projections.timers import TimerSettings
from projections.triggers import TriggerSettings
from runners.config import RunnerConfig
from runners.toolchains import catalogue_path
from schemas.settings import ServiceSettings

__all__ = ["DOC", "SOURCES", "render", "variables"]

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"

# the settings classes: what reads them, and how to call their from_env with an environment
SOURCES: dict[str, Callable[[Mapping[str, str]], object]] = {
    "ServiceSettings (every process)": ServiceSettings.from_env,
    "ApiSettings (sluice api)": ApiSettings.from_env,
    "RunnerConfig (sluice runner, sluice secrets)": RunnerConfig.from_env,
    "NotifierSettings (sluice processor notifier)": NotifierSettings.from_env,
    "LogLinesSettings (sluice processor projection, sluice replay)": LogLinesSettings.from_env,
    "TriggerSettings (sluice processor triggers)": TriggerSettings.from_env,
    "TimerSettings (sluice processor timers)": TimerSettings.from_env,
    "Connection (the CLI's API client)": lambda env: Connection.resolve(
        env=env, config=Path("/nonexistent/sluice.toml")
    ),
    "the CLI's config file (sluice login)": config_path,
    "the toolchain image catalogue (sluice images, runners)": catalogue_path,
}


class _Recording(dict[str, str]):
    """An empty environment that remembers each variable asked for and its default."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: dict[str, str] = {}

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.setdefault(key, "unset" if default in (None, "") else str(default))
        return default


def variables() -> dict[str, tuple[str, list[str]]]:
    """Each variable: its default (home directory as ``~``) and the classes that read it."""
    found: dict[str, tuple[str, list[str]]] = {}
    home = str(Path.home())
    for reader, from_env in SOURCES.items():
        env = _Recording()
        from_env(env)
        for name, default in env.asked.items():
            # paths inside the checkout as relative ones, so the file is the same in any clone
            shown = default.replace(str(DOC.parents[1]) + "/", "")
            shown = shown.replace(home, "~") if len(home) > 1 else shown
            found.setdefault(name, (shown, []))[1].append(reader)
    return dict(sorted(found.items()))


def render() -> str:
    """docs/settings.md."""
    lines = [
        "# Settings: every `SLUICE_*` variable",
        "",
        "Generated from the settings classes by `python -m orchestrator.settings_doc`; do not",
        "edit by hand (tests/unit/test_settings_doc.py checks it). Each process reads its",
        "variables once, at start, into a frozen settings object passed down explicitly.",
        "",
        "| variable | default | read by |",
        "| --- | --- | --- |",
    ]
    for name, (default, readers) in variables().items():
        lines.append(f"| `{name}` | `{default}` | {'; '.join(readers)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)
