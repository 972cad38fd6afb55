"""``sluice import`` on the real files of shared/external/pipelines, beside a raw floor.

Prints, per GitLab/GitHub file, the median time to import it (load with lines, resolve
anchors/extends/!reference, convert, write pipeline.yaml) and to validate the result with
``parse_pipeline``, beside the floor measured in the same run: ``yaml.safe_load`` of the same
text with PyYAML's pure-Python loader (the importer's loader is a subclass of it).
Run: .venv/bin/python bench/imports.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from orchestrator.domain import parse_pipeline
from orchestrator.domain.imports import import_pipeline
from tests.support.external import external


def _median_ms(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    """Measure every importable real file."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    repeat = parser.parse_args().repeat
    files = sorted((external() / "pipelines").glob("*.y*ml"))
    print(f"{'file':34} {'lines':>6} {'import ms':>10} {'+validate ms':>13} {'safe_load ms':>13}")
    for path in files:
        if not (".gitlab-ci." in path.name or ".github-" in path.name):
            continue
        text = path.read_text(encoding="utf-8")
        imported = import_pipeline(text, name="bench")
        convert = _median_ms(partial(import_pipeline, text, name="bench"), repeat)
        check = _median_ms(partial(parse_pipeline, imported.pipeline_yaml), repeat)
        floor = _median_ms(partial(_raw_load, text), repeat)
        lines = text.count("\n")
        print(f"{path.name:34} {lines:6} {convert:10.1f} {check:13.1f} {floor:13.1f}")


def _raw_load(text: str) -> object:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!reference", lambda loader, node: None)
    return yaml.load(text, Loader=Loader)


if __name__ == "__main__":
    main()
