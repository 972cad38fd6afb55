"""Every real pipeline file of shared/external/pipelines imports to its golden output, and
what is produced is a valid Sluice pipeline (checked by ``sluice validate`` itself)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.domain import parse_pipeline
from tests.support.external import external
from tests.unit.imports.golden_files import GOLDEN, REAL_FILES, expected_outputs, outputs_of


def test_the_real_files_are_all_there() -> None:
    assert len(REAL_FILES) == 9


@pytest.mark.parametrize("name", REAL_FILES)
def test_a_real_file_imports_to_its_golden_pipeline_and_report(name: str) -> None:
    assert outputs_of(name) == expected_outputs(name), (
        "the import changed; review it and run python -m tests.unit.imports.golden_files"
    )


@pytest.mark.parametrize("name", [n for n in REAL_FILES if ".gitlab-ci." in n or "github" in n])
def test_a_gitlab_or_github_file_imports_to_a_valid_pipeline(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    produced = tmp_path / "pipeline.yaml"

    assert main(["import", str(external() / "pipelines" / name), "-o", str(produced)]) == 0
    assert main(["validate", str(produced)]) == 0
    assert "ok: pipeline" in capsys.readouterr().out
    assert parse_pipeline(produced.read_text()).stages


@pytest.mark.parametrize("name", [n for n in REAL_FILES if "woodpecker" in n or "buildkite" in n])
def test_a_woodpecker_or_buildkite_file_is_refused_with_a_line(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(external() / "pipelines" / name)]) == 1

    err = capsys.readouterr().err
    assert err.startswith(f"sluice import: {external() / 'pipelines' / name}:")
    assert (GOLDEN / f"{name}.refused.txt").read_text().split(": ", 1)[1] in err


def test_a_file_every_loader_rejects_is_a_line_numbered_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = external() / "pipelines" / "woodpecker.test.yaml"

    assert main(["import", str(path)]) == 1

    err = capsys.readouterr().err
    assert f"{path}:30: not valid YAML" in err and "Traceback" not in err


def test_the_report_of_an_import_goes_to_stderr_with_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = external() / "pipelines" / "pytest.github-deploy.yml"

    assert main(["import", str(path)]) == 0

    out, err = capsys.readouterr()
    assert out.startswith("name: deploy\n")
    assert f"{path}:33: dropped: job 'package': step 'Build and Check Package' uses" in err
    assert err.rstrip().endswith("imported from github; 23 dropped, 12 changed")
