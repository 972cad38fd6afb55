"""A GitHub Actions workflow → Sluice ``pipeline.yaml``, with a report of what did not carry over.

Each job becomes a stage: ``needs``, ``run:`` steps (one script line each, in order, with
their ``working-directory``), ``env`` (workflow and job; a step's env is noted), ``container``
(else Sluice's default image, noted), ``timeout-minutes``, ``continue-on-error: true``,
``strategy.matrix`` (with ``include``/``exclude``: a plain product becomes ``matrix:``,
anything else one stage per combination) and ``if:`` on ``github.ref`` / ``github.event_name``.
``${{ matrix.X }}``, ``${{ env.X }}`` and ``${{ secrets.X }}`` become ``${X}`` (a secret
also joins ``secrets:``); ``github.sha`` and ``github.ref_name`` become Sluice's own.
``uses:`` steps, other expressions and other keys are reported.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from orchestrator.domain.imports.emit import Notes, dump, env_name_ok, stage_name
from orchestrator.domain.imports.loader import LineMap, line_of

__all__ = ["convert"]

_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_SIMPLE = re.compile(r"(matrix|env|secrets)\.([A-Za-z_][A-Za-z0-9_-]*)$")
_CONTEXT = {"github.sha": "SLUICE_COMMIT_SHA", "github.ref_name": "SLUICE_BRANCH"}
_CARRIED = {"needs", "steps", "env", "container", "timeout-minutes", "continue-on-error",
            "strategy", "if", "runs-on", "name"}  # fmt: skip
_STEP_CARRIED = {"run", "name", "working-directory", "id", "env", "if", "uses", "with", "shell"}
_REF_IF = {
    "github.event_name == 'push'": {"events": ["branch", "tag"]},
    "github.event_name == 'pull_request'": {"events": ["merge_request"]},
    "startsWith(github.ref, 'refs/tags/')": {"tags": ["*"]},
}


def convert(doc: LineMap, name: str) -> tuple[str, Notes]:
    """The pipeline file for workflow ``doc``, and what could not be carried over."""
    notes = Notes()
    for key in sorted(set(doc) - {"name", "jobs", "env", True, "on"}, key=str):
        notes.dropped(doc.lines[key], f"workflow {key}: is not carried over")
    trigger = True if True in doc else "on"
    if trigger in doc:
        notes.changed(doc.lines[trigger], "on: Sluice runs start from its webhooks, API and cron")
    jobs = doc.get("jobs") or {}
    variables = _env(doc.get("env"), notes, "the workflow", line_of(doc))
    expansions: dict[str, list[str]] = {}
    stages: dict[str, dict[str, Any]] = {}
    for job, spec in jobs.items():
        for stage, body in _job(str(job), spec, notes).items():
            stages[stage] = body
            expansions.setdefault(str(job), []).append(stage)
    _point_needs(stages, expansions)
    return dump(str(doc.get("name") or name), variables, stages), notes


def _point_needs(stages: dict[str, dict[str, Any]], expansions: dict[str, list[str]]) -> None:
    for body in stages.values():
        needs = [n for need in body.get("needs", []) for n in expansions.get(need, [need])]
        if needs:
            body["needs"] = needs


def _job(job: str, spec: LineMap, notes: Notes) -> dict[str, dict[str, Any]]:
    for key in sorted(set(spec) - _CARRIED, key=str):
        notes.dropped(spec.lines[key], f"job {job!r}: {key}: is not carried over")
    base: dict[str, Any] = {
        "needs": [stage_name(str(n)) for n in _as_list(spec.get("needs"))],
        "image": _image(job, spec, notes),
        "variables": _env(spec.get("env"), notes, f"job {job!r}", spec.line),
        "script": [],
        "secrets": set(),
        "timeout": _timeout(spec.get("timeout-minutes"), notes, spec, job),
        "when": _if(spec.get("if"), notes, spec.lines.get("if", spec.line), job),
        "allow_failure": _continue(spec.get("continue-on-error"), notes, spec, job),
    }
    for step, at in zip(
        spec.get("steps") or [],
        (spec.get("steps") or LineMap()).lines if spec.get("steps") else [],
        strict=False,
    ):
        _step(job, step, at, base, notes)
    if not base["script"]:
        notes.dropped(spec.line, f"job {job!r} has no run: step; it runs 'true'")
        base["script"] = ["true"]
    combos = _matrix(job, spec.get("strategy"), notes, spec)
    return _expand(stage_name(job), base, combos)


def _image(job: str, spec: LineMap, notes: Notes) -> str | None:
    container = spec.get("container")
    if isinstance(container, dict):
        for key in sorted(set(container) - {"image"}):
            notes.dropped(
                spec.lines["container"], f"job {job!r}: container.{key} is not carried over"
            )
        container = container.get("image")
    if container:
        return str(container)
    runs_on = spec.get("runs-on")
    notes.changed(
        spec.lines.get("runs-on", spec.line),
        f"job {job!r}: runs-on {runs_on!r} runs in Sluice's default image",
    )
    return None


def _step(job: str, step: Any, line: int, base: dict[str, Any], notes: Notes) -> None:
    if not isinstance(step, dict):
        notes.dropped(line, f"job {job!r}: a step that is not a mapping")
        return
    label = step.get("name") or step.get("uses") or "step"
    if "uses" in step:
        uses = str(step["uses"])
        if uses.startswith("actions/checkout@"):
            notes.changed(line, f"job {job!r}: {uses}: Sluice checks out the commit itself")
        else:
            notes.dropped(
                line, f"job {job!r}: step {label!r} uses {uses}, an action Sluice cannot run"
            )
        return
    for key in sorted(set(step) - _STEP_CARRIED):
        notes.dropped(line, f"job {job!r}: step {label!r}: {key} is not carried over")
    if "if" in step:
        notes.dropped(
            line,
            f"job {job!r}: step {label!r}: if: {step['if']!r} is not carried over; it always runs",
        )
    if "shell" in step:
        notes.changed(line, f"job {job!r}: step {label!r}: shell {step['shell']!r}; Sluice runs sh")
    if "env" in step:
        notes.changed(line, f"job {job!r}: step {label!r}: its env applies to the whole stage")
        base["variables"].update(_env(step["env"], notes, f"job {job!r}", line))
    command = _expressions(str(step.get("run", "")), notes, line, job, base["secrets"])
    if "working-directory" in step:
        command = f"cd {step['working-directory']} && {command}"
    base["script"].append(command)


def _expressions(text: str, notes: Notes, line: int, job: str, secrets: set[str]) -> str:
    def swap(match: re.Match[str]) -> str:
        if match[1] in _CONTEXT:
            return "${" + _CONTEXT[match[1]] + "}"
        simple = _SIMPLE.fullmatch(match[1])
        if simple is None or not env_name_ok(simple[2]):
            notes.dropped(line, f"job {job!r}: expression {match[0]!r} is not evaluated")
            return match[0]
        if simple[1] == "secrets":
            secrets.add(simple[2])
        return "${" + simple[2] + "}"

    return _EXPR.sub(swap, text)


def _env(value: Any, notes: Notes, owner: str, line: int) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    found: dict[str, str] = {}
    for key, raw in value.items():
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if not env_name_ok(str(key)) or _EXPR.search(text):
            notes.dropped(
                getattr(value, "lines", {}).get(key, line),
                f"{owner}: env {key}={text!r} is not carried over",
            )
            continue
        found[str(key)] = text
    return found


def _timeout(value: Any, notes: Notes, spec: LineMap, job: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        return f"{value}m"
    notes.dropped(
        spec.lines["timeout-minutes"], f"job {job!r}: timeout-minutes {value!r} is not a number"
    )
    return None


def _continue(value: Any, notes: Notes, spec: LineMap, job: str) -> bool | None:
    if value is True:
        return True
    if value not in (None, False):
        notes.dropped(
            spec.lines["continue-on-error"],
            f"job {job!r}: continue-on-error {value!r} is not carried over",
        )
    return None


def _if(value: Any, notes: Notes, line: int, job: str) -> dict[str, Any] | None:
    if value is None:
        return None
    text = " ".join(str(value).removeprefix("${{").removesuffix("}}").split()).replace('"', "'")
    when: dict[str, Any] = {}
    for raw in text.split("&&"):
        part = raw.strip()
        if part.startswith("(") and part.endswith(")"):
            part = part[1:-1].strip()
        ref = re.fullmatch(r"github\.ref == 'refs/heads/([^']+)'", part)
        tag = re.fullmatch(r"github\.ref == 'refs/tags/([^']+)'", part)
        if ref or tag:
            when.setdefault("branches" if ref else "tags", []).append((ref or tag)[1])  # type: ignore[index]
        elif part in _REF_IF:
            when.update(_REF_IF[part])
        else:
            notes.dropped(
                line, f"job {job!r}: if: {part!r} is not carried over; the stage runs regardless"
            )
    return when or None


def _matrix(job: str, strategy: Any, notes: Notes, spec: LineMap) -> list[dict[str, str]]:
    if not isinstance(strategy, dict):
        return []
    line = spec.lines.get("strategy", spec.line)
    for key in sorted(set(strategy) - {"matrix"}):
        notes.changed(
            line, f"job {job!r}: strategy.{key} is not carried over (Sluice runs every cell)"
        )
    matrix = strategy.get("matrix")
    if not isinstance(matrix, dict):
        if matrix is not None:
            notes.dropped(line, f"job {job!r}: strategy.matrix {matrix!r} is an expression")
        return []
    axes = {
        str(k): [_text(x) for x in _as_list(v)]
        for k, v in matrix.items()
        if k not in ("include", "exclude")
    }
    combos = (
        [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
        if axes
        else []
    )
    for rule in _as_list(matrix.get("exclude")):
        combos = [c for c in combos if not all(c.get(str(k)) == _text(v) for k, v in rule.items())]
    for extra in _as_list(matrix.get("include")):
        _include(combos, {str(k): _text(v) for k, v in extra.items()}, set(axes))
    return combos


def _include(combos: list[dict[str, str]], extra: dict[str, str], axes: set[str]) -> None:
    """GitHub's rule: extend every combination it matches on the original axes, else add it."""
    matched = False
    for combo in combos:
        original = {k: v for k, v in combo.items() if k in axes}
        if all(extra.get(k, v) == v for k, v in original.items()):
            combo.update({k: v for k, v in extra.items() if k not in original})
            matched = True
    if not matched:
        combos.append(dict(extra))


def _expand(
    name: str, base: dict[str, Any], combos: list[dict[str, str]]
) -> dict[str, dict[str, Any]]:
    body = _clean(base)
    if not combos:
        return {name: body}
    if _is_product(combos):
        axes = {k: list(dict.fromkeys(c[k] for c in combos)) for k in combos[0]}
        return {name: {**body, "matrix": axes}}
    out: dict[str, dict[str, Any]] = {}
    for combo in combos:
        label = stage_name(f"{name} ({'; '.join(combo[k] for k in list(combo)[:2])})")[:96]
        label = label if label not in out else f"{label} {len(out) + 1}"
        named = {k: v for k, v in combo.items() if env_name_ok(k)}
        out[label] = {**body, "variables": {**body.get("variables", {}), **named}}
    return out


def _is_product(combos: list[dict[str, str]]) -> bool:
    """Whether the combinations are exactly every product of their axes' values."""
    keys = list(combos[0])
    if any(list(c) != keys for c in combos):
        return False
    values = [list(dict.fromkeys(c[k] for c in combos)) for k in keys]
    product = [dict(zip(keys, v, strict=True)) for v in itertools.product(*values)]
    return len(product) == len(combos) and all(p in combos for p in product)


def _clean(base: dict[str, Any]) -> dict[str, Any]:
    base = {**base, "secrets": sorted(base["secrets"])}
    keys = ("needs", "image", "variables", "secrets", "script", "timeout", "when", "allow_failure")
    return {k: base[k] for k in keys if base.get(k) not in (None, [], {}, set())}


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
