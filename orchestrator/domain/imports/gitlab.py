"""``.gitlab-ci.yml`` → Sluice ``pipeline.yaml``, with a report of what did not carry over.

Resolved first, as GitLab does: ``!reference`` tags, ``extends`` (deep merge, lists
replaced), ``default:`` and the old top-level ``image``/``before_script``/``after_script``.
Then each visible job becomes a stage: ``stage`` order becomes ``needs`` (a job without
``needs`` waits for every job of the earlier stages; ``needs: []`` for none), and
``script``, ``image``, ``variables``, ``rules``/``only``, ``when: manual``,
``parallel: matrix``, ``artifacts``, ``retry``, ``timeout`` and ``allow_failure`` are carried
over. Every other key is reported with its line.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.domain.imports.emit import Notes, dump, env_name_ok, stage_name
from orchestrator.domain.imports.gitlab_rules import rules_when
from orchestrator.domain.imports.loader import LineList, LineMap, Reference, line_of
from orchestrator.domain.imports.report import ImportRefused

__all__ = ["convert"]

_GLOBAL = {
    "stages", "variables", "default", "include", "workflow", "image", "services", "cache",
    "before_script", "after_script", "spec",
}  # fmt: skip
_DEFAULTABLE = ("image", "before_script", "after_script", "retry", "timeout", "artifacts")
_DEFAULT_STAGES = [".pre", "build", "test", "deploy", ".post"]
_CARRIED = {
    "stage", "script", "before_script", "after_script", "image", "variables", "needs", "rules",
    "when", "parallel", "artifacts", "retry", "extends", "allow_failure", "timeout", "only",
}  # fmt: skip
_INFRA = {
    "runner_system_failure", "stuck_or_timeout_failure", "scheduler_failure", "api_failure",
    "runner_unsupported", "stale_schedule", "archived_failure", "unmet_prerequisites",
    "data_integrity_failure", "job_execution_timeout",
}  # fmt: skip
_UNITS = {"s": "s", "sec": "s", "second": "s", "m": "m", "min": "m", "minute": "m", "h": "h",
          "hr": "h", "hour": "h", "d": "d", "day": "d", "w": "w", "week": "w"}  # fmt: skip
_PART = re.compile(r"(\d+)\s*([a-z]+?)s?\b")


def convert(doc: LineMap, name: str) -> tuple[str, Notes]:
    """The pipeline file for GitLab document ``doc``, and what could not be carried over."""
    notes = Notes()
    doc = _resolve_references(doc, doc, notes)
    _report_globals(doc, notes)
    jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and k not in _GLOBAL}
    for key in sorted(set(doc) - set(jobs) - _GLOBAL, key=str):
        if str(key).startswith("."):
            continue  # a hidden key: anchors and templates, never a job
        notes.dropped(doc.lines.get(key, 0), f"top-level key {key!r} is not a job; ignored")
    defaults = _defaults(doc, notes)
    stages = [str(s) for s in doc.get("stages") or _DEFAULT_STAGES]
    visible = {k: _extended(k, jobs, notes, set()) for k in jobs if not str(k).startswith(".")}
    built = _build_all(visible, jobs, defaults, stages, notes)
    return dump(name, _variables(doc.get("variables"), notes, "the pipeline"), built), notes


def _report_globals(doc: LineMap, notes: Notes) -> None:
    for item in _as_list(doc.get("include")):
        what = item if isinstance(item, str) else dict(item) if isinstance(item, dict) else item
        notes.dropped(doc.lines["include"], f"include {what!r} is not fetched: add its jobs here")
    if "workflow" in doc:
        notes.dropped(doc.lines["workflow"], "workflow: (rules, name) is not carried over")
    for key in ("services", "cache", "spec"):
        if key in doc:
            notes.dropped(doc.lines[key], f"top-level {key}: is not carried over")


def _defaults(doc: LineMap, notes: Notes) -> dict[str, Any]:
    found = {k: doc[k] for k in ("image", "before_script", "after_script") if k in doc}
    default = doc.get("default")
    if isinstance(default, dict):
        for key, value in default.items():
            if key in _DEFAULTABLE:
                found[key] = value
            else:
                notes.dropped(_line(default, key, 0), f"default: {key} is not carried over")
    return found


def _resolve_references(value: Any, doc: LineMap, notes: Notes) -> Any:
    if isinstance(value, Reference):
        return _resolve_references(_lookup(value, doc, notes), doc, notes)
    if isinstance(value, dict):
        out = LineMap((k, _resolve_references(v, doc, notes)) for k, v in value.items())
        out.line, out.lines = line_of(value), dict(getattr(value, "lines", {}))
        return out
    if isinstance(value, list):
        out_list = LineList()
        out_list.line, out_list.lines = line_of(value), []
        for item, at in zip(value, getattr(value, "lines", [0] * len(value)), strict=False):
            resolved = _resolve_references(item, doc, notes)
            spliced = isinstance(item, Reference) and isinstance(resolved, list)
            out_list.extend(resolved if spliced else [resolved])
            out_list.lines.extend([at] * (len(resolved) if spliced else 1))
        return out_list
    return value


def _lookup(ref: Reference, doc: LineMap, notes: Notes) -> Any:
    found: Any = doc
    for key in ref.path:
        if not isinstance(found, dict) or key not in found:
            notes.dropped(ref.line, f"!reference {list(ref.path)} names nothing in this file")
            return None
        found = found[key]
    return found


def _extended(name: str, jobs: dict[Any, Any], notes: Notes, seen: set[str]) -> LineMap:
    job = jobs[name]
    merged = LineMap()
    merged.line, merged.lines = line_of(job), {}
    if name in seen:
        notes.dropped(line_of(job), f"job {name!r}: extends loops back to itself")
        return merged
    for parent in _as_list(job.get("extends")):
        if parent not in jobs:
            notes.dropped(job.lines["extends"], f"job {name!r}: extends unknown {parent!r}")
            continue
        _deep_merge(merged, _extended(parent, jobs, notes, seen | {name}))
    _deep_merge(merged, job)
    merged.pop("extends", None)
    return merged


def _deep_merge(into: LineMap, other: dict[Any, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            inner = LineMap(into[key])
            inner.line, inner.lines = (
                line_of(value),
                {**into[key].lines, **getattr(value, "lines", {})},
            )
            _deep_merge(inner, value)
            into[key] = inner
        else:
            into[key] = value
        into.lines[key] = getattr(other, "lines", {}).get(key, into.line)


def _build_all(
    visible: dict[str, LineMap],
    raw: dict[Any, Any],
    defaults: dict[str, Any],
    stages: list[str],
    notes: Notes,
) -> dict[str, dict[str, Any]]:
    names = {job: stage_name(str(job)) for job in visible}
    for job, new in names.items():
        if new != job:
            notes.changed(line_of(raw[job]), f"job {job!r} is stage {new!r} (characters / [ ] ,)")
    order = {job: _stage_index(job, spec, stages, notes) for job, spec in visible.items()}
    built: dict[str, dict[str, Any]] = {}
    for job, spec in visible.items():
        stage = _stage(job, {**defaults, **spec}, spec, notes)
        if stage is None:
            continue
        stage["needs"] = _needs(job, spec, order, names, notes)
        built[names[job]] = {k: v for k, v in stage.items() if v not in (None, [], {})}
    kept = set(built)
    for stage in built.values():
        stage["needs"] = [n for n in stage.get("needs", []) if n in kept]
        if not stage["needs"]:
            del stage["needs"]
    return {k: _ordered(v) for k, v in built.items()}


def _ordered(stage: dict[str, Any]) -> dict[str, Any]:
    keys = ("needs", "image", "variables", "script", "matrix", "artifacts", "reports", "retry",
            "timeout", "when", "allow_failure")  # fmt: skip
    return {k: stage[k] for k in keys if k in stage}


def _stage_index(job: str, spec: LineMap, stages: list[str], notes: Notes) -> int:
    name = str(spec.get("stage", "test"))
    if name not in stages:
        notes.dropped(spec.lines.get("stage", spec.line), f"job {job!r}: unknown stage {name!r}")
        return len(stages)
    return stages.index(name)


def _needs(
    job: str, spec: LineMap, order: dict[str, int], names: dict[str, str], notes: Notes
) -> list[str]:
    if "needs" not in spec:
        return [names[j] for j, i in order.items() if i < order[job]]
    found = []
    for need in _as_list(spec["needs"]):
        target = need.get("job") if isinstance(need, dict) else need
        if isinstance(need, dict) and ("pipeline" in need or "project" in need):
            notes.dropped(spec.lines["needs"], f"job {job!r}: needs from another pipeline")
        elif target in names:
            found.append(names[target])
        elif not (isinstance(need, dict) and need.get("optional")):
            notes.dropped(spec.lines["needs"], f"job {job!r}: needs unknown job {target!r}")
    return found


def _stage(job: str, spec: dict[str, Any], own: LineMap, notes: Notes) -> dict[str, Any] | None:
    line = own.line
    for key in sorted(set(own) - _CARRIED, key=str):
        notes.dropped(own.lines.get(key, line), f"job {job!r}: {key}: is not carried over")
    if spec.get("when") == "never":
        notes.changed(line, f"job {job!r}: when: never; not imported")
        return None
    script = _script(job, spec, notes, line)
    if not script:
        notes.dropped(line, f"job {job!r} has no script (a trigger or template?); not imported")
        return None
    return {
        "image": _image(spec.get("image"), notes, line, job),
        "variables": _variables(own.get("variables"), notes, f"job {job!r}"),
        "script": script,
        "matrix": _matrix(own.get("parallel"), notes, own.lines.get("parallel", line), job),
        **_artifacts(spec.get("artifacts"), notes, line, job),
        "retry": _retry(spec.get("retry"), notes, line, job),
        "timeout": _timeout(spec.get("timeout"), notes, line, job),
        "when": _when(own, notes, job),
        "allow_failure": _allow_failure(own.get("allow_failure"), notes, line, job),
    }


def _script(job: str, spec: dict[str, Any], notes: Notes, line: int) -> list[str]:
    before, main = _lines(spec.get("before_script")), _lines(spec.get("script"))
    after = _lines(spec.get("after_script"))
    if after and main:
        notes.changed(line, f"job {job!r}: after_script runs only when script succeeds")
    return before + main + after if main else []


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [line for item in value for line in _lines(item)]
    return [str(value)]


def _image(value: Any, notes: Notes, line: int, job: str) -> str | None:
    if isinstance(value, dict):
        for key in sorted(set(value) - {"name"}):
            notes.dropped(line, f"job {job!r}: image.{key} is not carried over")
        value = value.get("name")
    if value is None:
        notes.changed(line, f"job {job!r}: no image; Sluice's default image runs it")
        return None
    if "$" in str(value):
        notes.dropped(line, f"job {job!r}: image {value!r} uses variables, which are not expanded")
    return str(value)


def _variables(value: Any, notes: Notes, owner: str) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    found = {}
    for key, raw in value.items():
        text = raw.get("value", "") if isinstance(raw, dict) else raw
        if not env_name_ok(str(key)):
            notes.dropped(_line(value, key, 0), f"{owner}: variable {key!r} is not a name")
            continue
        found[str(key)] = (
            "" if text is None else str(text).lower() if isinstance(text, bool) else str(text)
        )
    return found


def _matrix(value: Any, notes: Notes, line: int, job: str) -> dict[str, list[str]] | None:
    if value is None:
        return None
    entries = value.get("matrix") if isinstance(value, dict) else None
    if not isinstance(entries, list) or not entries:
        notes.dropped(line, f"job {job!r}: parallel: {value!r} (copies without a matrix)")
        return None
    if len(entries) > 1:
        notes.dropped(
            line,
            f"job {job!r}: parallel: matrix has {len(entries)} entries; "
            "only the first is carried over",
        )
    return {str(k): [str(x) for x in _as_list(v)] for k, v in entries[0].items()}


def _artifacts(value: Any, notes: Notes, line: int, job: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, Any] = {}
    if value.get("paths"):
        out["artifacts"] = {"paths": [str(p) for p in value["paths"]]}
        expiry = _expiry(value.get("expire_in"), notes, line, job)
        if expiry:
            out["artifacts"]["expire_in"] = expiry
    reports = value.get("reports")
    if isinstance(reports, dict):
        junit = _as_list(reports.get("junit"))
        if junit:
            out["reports"] = {"junit": str(junit[0])}
        for key in sorted(set(reports) - {"junit"}) + (
            ["junit (more than one)"] if len(junit) > 1 else []
        ):
            notes.dropped(line, f"job {job!r}: artifacts.reports.{key} is not carried over")
    for key in sorted(set(value) - {"paths", "expire_in", "reports"}):
        notes.dropped(_line(value, key, line), f"job {job!r}: artifacts.{key} is not carried over")
    return out


def _expiry(value: Any, notes: Notes, line: int, job: str) -> str | None:
    if value is None:
        return None
    text = str(value).lower().strip()
    if text == "never":
        notes.changed(line, f"job {job!r}: expire_in never; Sluice keeps artifacts 30 days")
        return None
    months = re.fullmatch(r"(\d+)\s*(months?|mos?)", text)
    years = re.fullmatch(r"(\d+)\s*(years?|yrs?)", text)
    if months or years:
        return f"{int((months or years)[1]) * (30 if months else 365)}d"  # type: ignore[index]
    return _duration(text) or _unknown_duration(notes, line, job, "expire_in", text)


def _line(mapping: Any, key: Any, default: int) -> int:
    return int(getattr(mapping, "lines", {}).get(key, default))


def _duration(text: str) -> str | None:
    parts = _PART.findall(text.replace(" and ", " "))
    if not parts or not all(u in _UNITS for _, u in parts):
        return None
    return "".join(f"{n}{_UNITS[u]}" for n, u in parts)


def _unknown_duration(notes: Notes, line: int, job: str, key: str, text: str) -> str | None:
    notes.dropped(line, f"job {job!r}: {key} {text!r} is not a duration Sluice reads")
    return None


def _timeout(value: Any, notes: Notes, line: int, job: str) -> str | None:
    if value is None:
        return None
    return _duration(str(value).lower()) or _unknown_duration(
        notes, line, job, "timeout", str(value)
    )


def _retry(value: Any, notes: Notes, line: int, job: str) -> dict[str, Any] | None:
    if value is None:
        return None
    spec = value if isinstance(value, dict) else {"max": value}
    classes: set[str] = set()
    for reason in _as_list(spec.get("when", "always")):
        if reason in ("always", "unknown_failure"):
            classes |= {"infrastructure", "flaky", "deterministic"}
        elif reason == "script_failure":
            classes |= {"flaky", "deterministic"}
        elif reason in _INFRA:
            classes.add("infrastructure")
        else:
            notes.dropped(line, f"job {job!r}: retry.when {reason!r} has no Sluice failure class")
    for key in sorted(set(spec) - {"max", "when"}):
        notes.dropped(line, f"job {job!r}: retry.{key} is not carried over")
    order = ["infrastructure", "flaky", "deterministic"]
    return {"max": int(spec.get("max", 0)), "when": [c for c in order if c in classes]}


def _when(spec: LineMap, notes: Notes, job: str) -> dict[str, Any] | None:
    when: dict[str, Any] = {}
    if "rules" in spec:
        when, _ = rules_when(spec["rules"], notes, spec.lines["rules"], job)
    if "only" in spec:
        when.update(_only(spec["only"], notes, spec.lines["only"], job))
    manner = spec.get("when")
    if manner == "manual":
        when["manual"] = True
    elif manner not in (None, "on_success"):
        notes.dropped(
            spec.lines.get("when", spec.line), f"job {job!r}: when: {manner} is not carried over"
        )
    return when or None


def _only(value: Any, notes: Notes, line: int, job: str) -> dict[str, Any]:
    refs = value.get("refs", []) if isinstance(value, dict) else value
    found: dict[str, Any] = {}
    for ref in _as_list(refs):
        if ref == "tags":
            found.setdefault("tags", []).append("*")
        elif ref == "merge_requests":
            found.setdefault("events", []).append("merge_request")
        elif ref in ("branches", "pushes"):
            continue
        elif (
            isinstance(ref, str)
            and not ref.startswith("/")
            and ref not in ("schedules", "web", "api", "triggers")
        ):
            found.setdefault("branches", []).append(ref)
        else:
            notes.dropped(line, f"job {job!r}: only: {ref!r} is not carried over")
    return found


def _allow_failure(value: Any, notes: Notes, line: int, job: str) -> bool | None:
    if isinstance(value, dict):
        notes.dropped(line, f"job {job!r}: allow_failure.exit_codes is not carried over")
        return None
    return True if value is True else None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _refused(message: str) -> ImportRefused:
    return ImportRefused(message, line=1)
