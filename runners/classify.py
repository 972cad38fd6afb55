"""How a finished attempt is judged: the outcome and, for a failure, its class.

Pure: every fact (exit code, OOM flag, JUnit results, test history) is given to it, so
the rules are tested without Docker. The decider does the retry logic; this only names why.

* exit 0 and not cancelled → success
* OOM kill, image pull failure, runner shutdown, an infrastructure error → infrastructure
* timeout → deterministic ("timed out after …"): the same code would time out again
* every failed JUnit test passed in an earlier attempt of the stage or is known flaky
  (history: ``orchestrator.domain.flaky``) → flaky, so the stage is retried; one failed
  test not known flaky makes the failure deterministic
* anything else → deterministic
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from orchestrator.domain.flaky import stage_only_flaky
from orchestrator.domain.statuses import FailureClass

__all__ = [
    "Exit",
    "JUnitResults",
    "Verdict",
    "classify",
    "format_duration",
    "parse_go_test_json",
    "parse_junit",
    "parse_report",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class JUnitResults:
    """The test names of a JUnit report, split by outcome (``classname.name``)."""

    passed: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    skipped: frozenset[str] = frozenset()
    durations_ms: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Exit:
    """What is known about how an attempt's container ended."""

    exit_code: int | None
    oom_killed: bool = False
    timed_out_after_ms: int | None = None
    junit: JUnitResults | None = None
    passed_before: frozenset[str] = field(default_factory=frozenset)
    known_flaky: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Success, or the failure class and a reason a person can act on."""

    succeeded: bool
    failure_class: FailureClass = FailureClass.DETERMINISTIC
    reason: str = ""


def classify(end: Exit) -> Verdict:
    """Judge a finished container (see the module's rules)."""
    if end.timed_out_after_ms is not None:
        return _failed(
            FailureClass.DETERMINISTIC, f"timed out after {format_duration(end.timed_out_after_ms)}"
        )
    if end.oom_killed:
        return _failed(FailureClass.INFRASTRUCTURE, "killed by the kernel: out of memory (OOM)")
    if end.exit_code == 0:
        return Verdict(succeeded=True)
    reason = f"script exited with code {end.exit_code}"
    failed_tests = end.junit.failed if end.junit else frozenset()
    flaky = _flaky_tests(failed_tests, end)
    if stage_only_flaky(failed_tests, flaky):
        return _failed(FailureClass.FLAKY, f"{reason}; flaky test(s): {', '.join(sorted(flaky))}")
    failed = sorted(end.junit.failed) if end.junit else []
    if failed:
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        reason = f"{reason}; failed test(s): {shown}"
    return _failed(FailureClass.DETERMINISTIC, reason)


def _flaky_tests(failed: Collection[str], end: Exit) -> frozenset[str]:
    return frozenset(t for t in failed if t in end.passed_before or t in end.known_flaky)


def _failed(failure_class: FailureClass, reason: str) -> Verdict:
    return Verdict(succeeded=False, failure_class=failure_class, reason=reason)


def format_duration(ms: int) -> str:
    """``1500`` → ``"1.5 s"``, ``90000`` → ``"90 s"``: how reasons show durations."""
    seconds = ms / 1000
    return f"{seconds:g} s"


def parse_report(data: bytes) -> JUnitResults:
    """A JUnit XML report (pytest, ctest, ...) or ``go test -json`` output, read alike."""
    if data.lstrip().startswith(b"{"):
        return parse_go_test_json(data)
    return parse_junit(data)


def parse_junit(xml: bytes) -> JUnitResults:
    """The passed, failed and skipped tests of a JUnit XML report; an unreadable one has none."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return JUnitResults()
    found = _Found()
    for case in root.iter("testcase"):
        name = ".".join(p for p in (case.get("classname"), case.get("name")) if p)
        if case.find("skipped") is not None:
            outcome = "skip"
        elif case.find("failure") is not None or case.find("error") is not None:
            outcome = "fail"
        else:
            outcome = "pass"
        found.add(name, outcome, _seconds(case.get("time")))
    return found.results()


def parse_go_test_json(data: bytes) -> JUnitResults:
    """The tests of ``go test -json`` output (one JSON event a line), named package.Test."""
    found = _Found()
    for raw in data.splitlines():
        try:
            event = json.loads(raw)
        except ValueError:
            continue  # go test prints build errors as plain text
        action, test = event.get("Action"), event.get("Test")
        if isinstance(event, dict) and test and action in ("pass", "fail", "skip"):
            name = ".".join(p for p in (event.get("Package"), test) if p)
            found.add(name, action, event.get("Elapsed"))
    return found.results()


class _Found:
    def __init__(self) -> None:
        self.outcomes: dict[str, set[str]] = {"pass": set(), "fail": set(), "skip": set()}
        self.durations: dict[str, int] = {}

    def add(self, name: str, outcome: str, seconds: float | None) -> None:
        self.outcomes[outcome].add(name)
        if seconds is not None:
            self.durations[name] = round(seconds * 1000)

    def results(self) -> JUnitResults:
        failed = frozenset(self.outcomes["fail"])
        return JUnitResults(
            passed=frozenset(self.outcomes["pass"]) - failed,
            failed=failed,
            skipped=frozenset(self.outcomes["skip"]) - failed - self.outcomes["pass"],
            durations_ms=self.durations,
        )


def _seconds(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
