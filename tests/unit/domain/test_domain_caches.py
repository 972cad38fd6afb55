"""Cache keys: plain strings and ``${{ hashFiles(...) }}`` templates, and the ``cache`` key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain import PipelineInvalid, parse_pipeline
from orchestrator.domain.caches import HashFiles, parse_key, render_key, safe_key


def test_a_template_splits_into_text_and_files_to_hash() -> None:
    parts = parse_key("pip-${{ hashFiles('requirements.txt', \"setup.cfg\") }}-v1")

    assert parts == ("pip-", HashFiles(("requirements.txt", "setup.cfg")), "-v1")


def test_a_plain_key_is_one_part() -> None:
    assert parse_key("node-modules") == ("node-modules",)


@pytest.mark.parametrize(
    "template",
    ["x-${{ github.sha }}", "x-${{ hashFiles() }}", "x-${{ hashFiles(requirements.txt) }}"],
)
def test_anything_but_hash_files_is_refused(template: str) -> None:
    with pytest.raises(ValueError):
        parse_key(template)


def test_the_key_renders_with_the_hash_of_the_files() -> None:
    parts = parse_key("pip-${{ hashFiles('a', 'b') }}")

    assert render_key(parts, "+".join) == "pip-a-b"


@given(st.text(max_size=300))
def test_a_rendered_key_is_always_safe_in_an_object_name(text: str) -> None:
    key = safe_key(text)

    assert 0 < len(key) <= 200
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in key)


def test_the_cache_key_of_a_stage_is_parsed() -> None:
    spec = parse_pipeline(
        "name: n\nstages:\n  t:\n    script: [x]\n"
        "    cache: {key: \"pip-${{ hashFiles('requirements.txt') }}\", paths: [.cache/pip]}\n"
    )

    cache = spec.stages[0].cache
    assert cache is not None
    assert cache.paths == (".cache/pip",)


def test_a_cache_without_paths_or_with_an_unknown_expression_is_an_error() -> None:
    text = "name: n\nstages:\n  t:\n    script: [x]\n    cache: {key: 'k-${{ env.X }}'}\n"

    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline(text)

    messages = [str(e) for e in caught.value.errors]
    assert any("'paths'" in m for m in messages)
    assert any("only hashFiles" in m for m in messages)
