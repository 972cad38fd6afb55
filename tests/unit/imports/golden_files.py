"""The golden outputs of importing each real file of shared/external/pipelines.

``python -m tests.unit.imports.golden_files`` rewrites them from the current importer; review
the diff before committing it. For each file ``F``: ``F.pipeline.yaml`` and ``F.report.txt``
(imported), or ``F.refused.txt`` (refused, with its line).
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.domain.imports import ImportRefused, import_pipeline, render
from tests.support.external import external

__all__ = ["GOLDEN", "REAL_FILES", "expected_outputs", "outputs_of"]

GOLDEN = Path(__file__).resolve().parent / "golden"


def real_files() -> list[Path]:
    """Every real pipeline file."""
    return sorted(p for p in (external() / "pipelines").iterdir() if p.suffix in (".yml", ".yaml"))


REAL_FILES = [p.name for p in real_files()]


def outputs_of(name: str) -> dict[str, str]:
    """What importing the real file ``name`` produces, by golden file name."""
    text = (external() / "pipelines" / name).read_text(encoding="utf-8")
    try:
        imported = import_pipeline(text, name=name.split(".", maxsplit=1)[0])
    except ImportRefused as e:
        return {f"{name}.refused.txt": e.located(name) + "\n"}
    return {
        f"{name}.pipeline.yaml": imported.pipeline_yaml,
        f"{name}.report.txt": render(name, imported.findings) + "\n",
    }


def expected_outputs(name: str) -> dict[str, str]:
    """The golden files of ``name`` as committed."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(GOLDEN.glob(f"{name}.*"))}


def main() -> None:
    """Rewrite every golden output."""
    for name in REAL_FILES:
        for old in GOLDEN.glob(f"{name}.*"):
            old.unlink()
        for file, text in outputs_of(name).items():
            (GOLDEN / file).write_text(text, encoding="utf-8")
            print(f"wrote {file}")


if __name__ == "__main__":
    main()
