"""A pool runner's options and ``sluice runner``'s command line say the same thing.

A forked runner is given its options directly, and shows ``runner_arguments`` of them as its
command line (bench/runner_start.py starts its cold runners with them): both must be the
runner the command line would start.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.cli import build_parser
from orchestrator.cli.runner import options_of
from runners.pool.processes import runner_arguments
from runners.process import RunnerOptions

options = st.builds(
    RunnerOptions,
    slots=st.integers(1, 64),
    runner_id=st.none() | st.from_regex(r"runner-[0-9a-f]{12}", fullmatch=True),
    prefix=st.none() | st.from_regex(r"[a-z0-9]{0,8}\.?", fullmatch=True),
    metrics_port=st.integers(0, 65535),
    drain_on_sigterm=st.booleans(),
    status_file=st.none() | st.just(Path("/tmp/pool/runner.json")),
    simulated=st.booleans(),
)


@given(options)
def test_the_command_line_of_a_runners_options_parses_back_to_them(given: RunnerOptions) -> None:
    assert options_of(build_parser().parse_args(runner_arguments(given))) == given
