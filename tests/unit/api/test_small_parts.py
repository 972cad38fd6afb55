"""Rate limiter, SSE positions, tokens, cursors, webhook signatures, client config."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.api.logs import Position
from orchestrator.api.queries import BadCursor, decode_cursor, encode_cursor
from orchestrator.api.ratelimit import RateLimiter
from orchestrator.api.tokens import (
    InvalidScope,
    Scope,
    TokenInfo,
    deploy_scopes,
    digest,
    parse_scopes,
)
from orchestrator.api.webhooks import github_signature
from orchestrator.client import Connection, parse_sse
from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import LogStream


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limiter_allows_a_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=2, clock=clock)
    assert [limiter.take("t"), limiter.take("t")] == [0.0, 0.0]
    assert limiter.take("t") == pytest.approx(0.5)


def test_the_rate_limiter_refills_with_time_and_keeps_tokens_apart() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=1, clock=clock)
    limiter.take("a")
    assert limiter.take("b") == 0.0
    clock.now = 0.5
    assert limiter.take("a") == 0.0


def _chunk(stage: str, seq: int) -> LogChunk:
    return LogChunk(
        run_id="r",
        stage=stage,
        attempt=1,
        seq=seq,
        stream=LogStream.STDOUT,
        data="x",
        final=False,
        occurred_at_ms=0,
    )


def test_a_position_skips_what_its_id_covers_and_passes_what_follows() -> None:
    position = Position.parse("build/1/4,lint-x/1/0")
    assert [position.fresh(_chunk("build", s)) for s in (3, 4, 5)] == [False, False, True]
    assert position.fresh(_chunk("test", 0))
    assert position.id() == "build/1/5,lint-x/1/0,test/1/0"


def test_a_position_ignores_an_id_that_is_not_ours() -> None:
    assert Position.parse("garbage").seen == {}


def test_admin_carries_every_scope_and_an_empty_list_sees_every_pipeline() -> None:
    token = TokenInfo("id", "n", frozenset({Scope.ADMIN}), frozenset())
    assert token.allows(Scope.RUNNER) and token.sees("any")


def test_a_limited_token_sees_only_its_pipelines() -> None:
    token = TokenInfo("id", "n", frozenset({Scope.READ}), frozenset({"a"}))
    assert (token.sees("a"), token.sees("b"), token.allows(Scope.TRIGGER)) == (True, False, False)


def test_an_unknown_scope_is_refused() -> None:
    with pytest.raises(InvalidScope, match="root"):
        parse_scopes(["read", "root"])


def test_deploy_scopes_name_environments_beside_the_plain_scopes() -> None:
    names = ["trigger", "deploy:production", "deploy:staging", "deploy:production"]
    assert parse_scopes(names) == (Scope.TRIGGER,)
    assert deploy_scopes(names) == ("production", "staging")


def test_only_a_deploy_scope_or_admin_may_deploy_to_a_protected_environment() -> None:
    mine = TokenInfo("id", "n", frozenset({Scope.TRIGGER}), frozenset(), frozenset({"prod"}))
    admin = TokenInfo("id", "n", frozenset({Scope.ADMIN}), frozenset())
    plain = TokenInfo("id", "n", frozenset({Scope.TRIGGER}), frozenset())
    assert (mine.may_deploy("prod"), mine.may_deploy("staging")) == (True, False)
    assert (admin.may_deploy("prod"), plain.may_deploy("prod")) == (True, False)


def test_a_deploy_scope_without_a_valid_environment_name_is_refused() -> None:
    with pytest.raises(InvalidScope, match="after 'deploy:'"):
        deploy_scopes(["deploy:"])


def test_the_stored_digest_is_the_sha256_of_the_token() -> None:
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_cursor_round_trips_and_a_foreign_one_is_refused() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert decode_cursor(encode_cursor(when, "run-1")) == (when, "run-1")
    with pytest.raises(BadCursor):
        decode_cursor("!!")


def test_the_github_signature_is_hmac_sha256_of_the_body() -> None:
    expected = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    assert github_signature(b"key", b"The quick brown fox jumps over the lazy dog") == expected


def test_flags_win_over_the_environment_which_wins_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('url = "http://file"\ntoken = "from-file"\n')
    env = {"SLUICE_API_URL": "http://env"}
    assert Connection.resolve(env=env, config=config) == Connection("http://env", "from-file")
    assert Connection.resolve("http://flag", env=env, config=config).url == "http://flag"
    assert Connection.resolve(env={}, config=tmp_path / "none").url == "http://127.0.0.1:8080"


def test_server_sent_events_are_parsed_with_ids_events_and_multiline_data() -> None:
    lines = iter(["retry: 1000", "", "id: a/1/0", "event: stdout", "data: x", "data: y", ""])
    [event] = list(parse_sse(lines))
    assert (event.id, event.event, event.data) == ("a/1/0", "stdout", "x\ny")


@pytest.mark.parametrize("raw", ["build/1/--5", "build/x/1", "/1/1", "build/1/" + "9" * 40])
def test_a_malformed_event_id_is_ignored(raw: str) -> None:
    assert Position.parse(raw).seen == {}
