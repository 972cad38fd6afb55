"""Three small real projects (Python, Go, C) and their pipelines, for the acceptance tests.

Each comes in two states: green, and with one failing test (``failing=True``), whose name
:data:`FAILING_TEST` gives as the report names it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAILING_TEST", "Sample", "c_library", "go_module", "python_package", "sample"]


@dataclass(frozen=True)
class Sample:
    """A repository's files, the image its tests run in, and its failing test's name."""

    files: dict[str, str]
    image: str
    failing_test: str


def _pipeline(image: str, script: list[str], report: str) -> str:
    lines = "\n".join(f"      - {line}" for line in script)
    return (
        "name: sample\n"
        "stages:\n"
        "  test:\n"
        f"    image: {image}\n"
        "    script:\n"
        f"{lines}\n"
        f"    reports: {{junit: {report}}}\n"
    )


def python_package(*, failing: bool = False) -> Sample:
    """A Python package with pytest tests, in ``python:3.11``."""
    expected = 5 if failing else 4
    return Sample(
        files={
            "pipeline.yaml": _pipeline(
                "python:3.11",
                [
                    "cp -r /src/. .",
                    "python3 -m pytest -q -p no:cacheprovider --junitxml=report.xml tests",
                ],
                "report.xml",
            ),
            "calc/__init__.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
            "tests/__init__.py": "",
            "tests/test_calc.py": (
                "from calc import add\n\n\n"
                "def test_add():\n"
                f"    assert add(2, 2) == {expected}\n\n\n"
                "def test_add_negative():\n"
                "    assert add(-1, 1) == 0\n"
            ),
        },
        image="python:3.11",
        failing_test="tests.test_calc.test_add",
    )


def go_module(*, failing: bool = False) -> Sample:
    """A Go module with ``go test``, its ``-json`` output as the report, in ``golang:1.19``."""
    expected = 5 if failing else 4
    return Sample(
        files={
            "pipeline.yaml": _pipeline(
                "golang:1.19",
                [
                    "cp -r /src/. .",
                    "export GOCACHE=/tmp/gocache GOPATH=/tmp/gopath GOFLAGS=-mod=mod",
                    "go vet ./...",
                    "go test -json ./... > report.json",
                ],
                "report.json",
            ),
            "go.mod": "module example.com/calc\n\ngo 1.19\n",
            "calc.go": "package calc\n\nfunc Add(a, b int) int { return a + b }\n",
            "calc_test.go": (
                'package calc\n\nimport "testing"\n\n'
                "func TestAdd(t *testing.T) {\n"
                f"\tif got := Add(2, 2); got != {expected} {{\n"
                f'\t\tt.Fatalf("Add(2, 2) = %d, want {expected}", got)\n'
                "\t}\n}\n\n"
                "func TestAddNegative(t *testing.T) {\n"
                "\tif Add(-1, 1) != 0 {\n"
                '\t\tt.Fatal("Add(-1, 1) != 0")\n'
                "\t}\n}\n"
            ),
        },
        image="golang:1.19",
        failing_test="example.com/calc.TestAdd",
    )


def c_library(*, failing: bool = False) -> Sample:
    """A C library built with CMake, tested with ctest (JUnit output), in ``gcc:12``."""
    expected = 5 if failing else 4
    return Sample(
        files={
            "pipeline.yaml": _pipeline(
                "gcc:12",
                [
                    "cp -r /src/. .",
                    "cmake -S . -B build",
                    "cmake --build build",
                    "cd build && ctest --output-on-failure --output-junit ctest.xml",
                ],
                "build/ctest.xml",
            ),
            "CMakeLists.txt": (
                "cmake_minimum_required(VERSION 3.21)\n"
                "project(calc C)\n"
                "enable_testing()\n"
                "add_library(calc calc.c)\n"
                "add_executable(test_add test_add.c)\n"
                "target_link_libraries(test_add calc)\n"
                "add_test(NAME test_add COMMAND test_add)\n"
                "add_executable(test_negative test_negative.c)\n"
                "target_link_libraries(test_negative calc)\n"
                "add_test(NAME test_negative COMMAND test_negative)\n"
            ),
            "calc.h": "int add(int a, int b);\n",
            "calc.c": '#include "calc.h"\nint add(int a, int b) { return a + b; }\n',
            "test_add.c": (
                '#include "calc.h"\n#include <stdio.h>\n'
                f"int main(void) {{ if (add(2, 2) != {expected}) {{ "
                'puts("add(2, 2) is wrong"); return 1; } return 0; }\n'
            ),
            "test_negative.c": (
                '#include "calc.h"\nint main(void) { return add(-1, 1) == 0 ? 0 : 1; }\n'
            ),
        },
        image="gcc:12",
        failing_test="test_add",
    )


def sample(kind: str, *, failing: bool = False) -> Sample:
    """The sample project ``kind`` (python, go or c)."""
    makers = {"python": python_package, "go": go_module, "c": c_library}
    return makers[kind](failing=failing)


FAILING_TEST = {kind: sample(kind, failing=True).failing_test for kind in ("python", "go", "c")}
