"""GitLab ``rules: - if:`` (and ``only:``) as Sluice ``when:`` patterns, where they say the same.

Understood atoms, joined by ``&&`` (all must hold) or ``||`` (any):

| GitLab | Sluice |
| --- | --- |
| ``$CI_COMMIT_TAG`` (set, ``!= null``, ``=~ /re/``) | ``tags: ["*"]`` |
| ``$CI_COMMIT_BRANCH == "x"`` (or ``$CI_COMMIT_REF_NAME``) | ``branches: [x]`` |
| ``... == $CI_DEFAULT_BRANCH`` | ``branches: [main]`` (noted: not known at import) |
| ``$CI_COMMIT_BRANCH`` (set) | ``events: [branch]`` |
| ``$CI_PIPELINE_SOURCE == "merge_request_event"`` | ``events: [merge_request]`` |
| ``$CI_MERGE_REQUEST_IID`` (set) | ``events: [merge_request]`` |
| ``$CI_PIPELINE_SOURCE == "push"`` | ``events: [branch, tag]`` |

Anything else is reported, and the stage runs without that condition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.imports.emit import Notes

__all__ = ["Cond", "rules_when"]

_VAR = r"\$\{?(\w+)\}?"
_EQ = re.compile(_VAR + r"\s*==\s*(?:[\"']([^\"']*)[\"']|" + _VAR + r")$")
_SET = re.compile(_VAR + r"(?:\s*!=\s*null)?$")
_MATCH = re.compile(_VAR + r"\s*=~\s*/(.*)/$")
_BRANCH_VARS = ("CI_COMMIT_BRANCH", "CI_COMMIT_REF_NAME")


@dataclass
class Cond:
    """What one rule requires; None in a field = no requirement of that kind."""

    events: set[str] | None = None
    branches: set[str] | None = None
    tags: set[str] | None = None
    manual: bool = False
    unknown: list[str] = field(default_factory=list)


def _atom(text: str, notes: Notes, line: int) -> Cond | None:
    text = text.strip().strip("()").strip()
    eq, is_set, match = _EQ.match(text), _SET.match(text), _MATCH.match(text)
    if eq and eq[1] in _BRANCH_VARS:
        if eq[3] == "CI_DEFAULT_BRANCH":
            notes.changed(line, f"{text}: the default branch is taken to be 'main'")
            return Cond(branches={"main"})
        return Cond(branches={eq[2] or ""})
    if eq and eq[1] == "CI_PIPELINE_SOURCE":
        kind = {"merge_request_event": {"merge_request"}, "push": {"branch", "tag"}}.get(
            eq[2] or ""
        )
        return None if kind is None else Cond(events=kind)
    if (is_set or match) and (is_set or match)[1] == "CI_COMMIT_TAG":  # type: ignore[index]
        if match:
            notes.changed(line, f"{text}: every tag matches (regular expressions are not kept)")
        return Cond(tags={"*"})
    if is_set and is_set[1] in ("CI_MERGE_REQUEST_IID", "CI_MERGE_REQUEST_ID"):
        return Cond(events={"merge_request"})
    if is_set and is_set[1] == "CI_COMMIT_BRANCH":
        return Cond(events={"branch"})
    return None


def _conjunction(text: str, notes: Notes, line: int) -> Cond:
    found = Cond()
    for part in text.split("&&"):
        atom = _atom(part, notes, line)
        if atom is None:
            found.unknown.append(part.strip())
            continue
        for name in ("events", "branches", "tags"):
            mine, theirs = getattr(found, name), getattr(atom, name)
            if theirs is not None:
                setattr(found, name, theirs if mine is None else mine & theirs)
    return found


def _expression(text: str, notes: Notes, line: int) -> list[Cond]:
    return [_conjunction(part, notes, line) for part in " ".join(text.split()).split("||")]


def rules_when(rules: Any, notes: Notes, line: int, job: str) -> tuple[dict[str, Any], bool]:
    """``when:`` keys and whether the rules make the job run at all (False: ``when: never``)."""
    conds: list[Cond] = []
    lines = getattr(rules, "lines", [line] * len(rules))
    for rule, at in zip(rules, lines, strict=False):
        if not isinstance(rule, dict):
            notes.dropped(at, f"job {job!r}: a rule that is not a mapping is not carried over")
            continue
        for key in sorted(set(rule) - {"if", "when", "allow_failure"}):
            notes.dropped(at, f"job {job!r}: rules[].{key} is not carried over (no such condition)")
        when = rule.get("when", "on_success")
        if when == "never":
            notes.dropped(at, f"job {job!r}: rule 'when: never' is not carried over")
            continue
        for cond in _expression(str(rule["if"]), notes, at) if "if" in rule else [Cond()]:
            cond.manual = when == "manual"
            for unknown in cond.unknown:
                notes.dropped(at, f"job {job!r}: condition {unknown!r} is not carried over")
            conds.append(cond)
    if not conds:
        return {}, bool(rules) is False
    return _union(conds, notes, line, job), True


def _union(conds: list[Cond], notes: Notes, line: int, job: str) -> dict[str, Any]:
    when: dict[str, Any] = {}
    if any(c.manual for c in conds):
        when["manual"] = True
        if not all(c.manual for c in conds):
            notes.changed(line, f"job {job!r}: manual in some rules only; imported as manual")
    for name in ("events", "branches", "tags"):
        values = [getattr(c, name) for c in conds]
        if all(v is not None for v in values):
            when[name] = sorted(set().union(*values))
        elif any(v is not None for v in values):
            notes.changed(line, f"job {job!r}: its rules differ in {name}; it runs on any")
    if "events" in when and "tags" in when:
        when["events"] = sorted(set(when["events"]) | {"tag"})
    return when
