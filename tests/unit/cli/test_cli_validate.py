"""``sluice validate FILE``: the DAG by levels, or every error like a compiler, or exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import main

VALID = """\
name: shop
stages:
  build: {script: [make]}
  lint: {needs: [build], script: [make lint]}
  unit-tests: {needs: [build], script: [make test]}
  it: {needs: [lint, unit-tests], script: [make it], matrix: {py: ["3.10", "3.11"]}}
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return str(path)


def test_a_valid_file_prints_its_stages_level_by_level_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", write(tmp_path, VALID)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["1: build", "2: lint, unit-tests", "3: it [py=3.10], it [py=3.11]"]
    assert out[3] == "ok: pipeline 'shop', 5 stages in 3 levels, up to 2 in parallel"


def test_an_invalid_file_prints_every_error_as_file_line_message_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "name: p\nstages:\n  a:\n    script: x\n    needs: [bild]\n  build:\n    scirpt: x\n"
    path = write(tmp_path, text)
    assert main(["validate", path]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:5: stage 'a' needs 'bild', which is not a stage (did you mean 'build'?)",
        f"{path}:6: stage 'build' needs a 'script' key with at least one command"
        " (or a 'deploy' or a 'build_image')",
        f"{path}:7: unknown key 'scirpt' in stage 'build' (did you mean 'script'?)",
        f"{path}: 3 errors",
    ]


def test_a_yaml_syntax_error_points_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "name: p\nstages:\n  a: b: c\n")
    assert main(["validate", path]) == 1
    assert capsys.readouterr().err.startswith(f"{path}:3: YAML syntax error")


def test_a_missing_file_is_one_clear_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.yaml")
    assert main(["validate", missing]) == 2
    assert capsys.readouterr().err == f"sluice validate: {missing}: no such file\n"


def test_sluice_help_lists_validate() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from orchestrator.cli import main; sys.exit(main())",
            "--help",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "validate" in done.stdout
