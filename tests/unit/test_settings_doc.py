"""docs/settings.md lists every ``SLUICE_*`` variable, as the settings classes read them."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.settings_doc import DOC, render, variables

ROOT = Path(__file__).resolve().parents[2]
_READ = re.compile(r"""(?:environ|env)(?:\.get\(|\[)\s*["'](SLUICE_[A-Z0-9_]+)["']""")


def test_the_settings_doc_is_the_one_the_settings_classes_generate() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/settings.md is stale: run `python -m orchestrator.settings_doc` and commit it"
    )


def test_every_variable_the_code_reads_belongs_to_a_settings_class() -> None:
    read = {
        name
        for package in ("schemas", "orchestrator", "projections", "runners")
        for path in (ROOT / package).rglob("*.py")
        for name in _READ.findall(path.read_text(encoding="utf-8"))
    }
    assert read, "the pattern finds the variables the code reads"
    assert read - set(variables()) == set(), "read outside a settings class: add it to one"
