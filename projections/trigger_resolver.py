"""Turn one accepted request into ``RunCreated`` or ``RunRejected``: the trigger processor's I/O.

It looks the pipeline up, reads its file at the request's commit, and hands both to the
pure rules of :mod:`projections.trigger_rules`. A bad request (unknown pipeline, commit or
file; an invalid pipeline) is answered with ``RunRejected`` and a reason a person can act
on. A failure that may pass (git or Kafka unreachable) is retried with back-off first, so
one hiccup does not reject a good trigger; after the last try it is rejected, saying so.
An unexpected exception (a bug) is logged and the request rejected, so that one bad request
can never stop the triggers behind it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from orchestrator.domain.errors import PipelineInvalid
from orchestrator.domain.events import RunCreated, RunRejected
from orchestrator.domain.imports import ImportRefused, import_pipeline, importable, render
from orchestrator.domain.records import RunRequested
from orchestrator.domain.spec import parse_pipeline
from projections.pipeline_catalogue import PipelineCatalogue
from projections.pipeline_source import PipelineSource
from projections.trigger_rules import (
    Pipeline,
    describe_invalid,
    rejected,
    run_created,
    unknown_pipeline,
)
from schemas.errors import DomainError, InfrastructureError

__all__ = ["TriggerResolver"]

log = logging.getLogger(__name__)

# parse_pipeline is pure and a PipelineSpec frozen, so one parse serves every run of the same
# file text (a 60-stage file takes tens of ms to parse and compile; triggers repeat commits).
_parse = functools.lru_cache(maxsize=256)(parse_pipeline)


class TriggerResolver:
    """Resolves requests against the pipeline catalogue and the repositories (thread-safe)."""

    def __init__(
        self,
        *,
        catalogue: PipelineCatalogue,
        source: PipelineSource,
        tries: int = 4,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Try a retryable failure ``tries`` times, waiting ``backoff_s`` doubled each time."""
        self._catalogue = catalogue
        self._source = source
        self._tries = tries
        self._backoff_s = backoff_s
        self._sleep = sleep

    def resolve(self, request: RunRequested, dedup_key: str) -> RunCreated | RunRejected:
        """The answer to ``request``: its run with the resolved stages, or why there is none."""
        for attempt in range(1, self._tries + 1):
            try:
                return self._resolve_once(request, dedup_key)
            except InfrastructureError as e:
                if attempt == self._tries:
                    return rejected(request, f"{e}; request the run again when it is back")
                log.warning("resolving run %s failed (%s); retrying", request.run_id, e)
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
            except Exception as e:
                # A bug must not become a poison message that stops every later trigger.
                log.exception("resolving run %s failed unexpectedly", request.run_id)
                reason = f"the trigger processor failed on this request ({type(e).__name__})"
                return rejected(request, f"{reason}; its log has the details")
        raise AssertionError("unreachable: the last try returns")  # pragma: no cover

    def resolve_at_once(
        self, request: RunRequested, dedup_key: str
    ) -> RunCreated | RunRejected | None:
        """The answer when everything it needs is already in memory (a fresh pipeline, a
        file read before at this full commit): no I/O, so the trigger processor answers on
        its event loop with no hop to a thread. None when :meth:`resolve` must be asked."""
        fresh, pipeline = self._catalogue.peek(request.pipeline_id)
        if not fresh or pipeline is None:
            return None
        path = pipeline.config_path
        text = self._source.remembered(pipeline.repo_url, request.commit_sha, path)
        if text is None:
            return None
        try:
            return self._answer_from(request, dedup_key, pipeline, lambda: text)
        except Exception:  # a bug: let resolve() log it and reject, as for any other
            return None

    def _resolve_once(self, request: RunRequested, dedup_key: str) -> RunCreated | RunRejected:
        pipeline = self._catalogue.lookup(request.pipeline_id)
        if pipeline is None:
            return unknown_pipeline(request)

        def read() -> str:
            return self._source.read(pipeline.repo_url, request.commit_sha, pipeline.config_path)

        return self._answer_from(request, dedup_key, pipeline, read)

    def _answer_from(
        self, request: RunRequested, dedup_key: str, pipeline: Pipeline, read: Callable[[], str]
    ) -> RunCreated | RunRejected:
        try:
            text = read()
            spec = _parse(_imported(text, pipeline) if importable(pipeline.config_path) else text)
        except PipelineInvalid as e:
            return rejected(request, _invalid(e, pipeline, request))
        except ImportRefused as e:  # a GitLab or GitHub file that cannot run as it is
            return rejected(request, e.located(pipeline.config_path))
        except DomainError as e:  # unknown repository, commit or file; any other bad input
            return rejected(request, str(e))
        return run_created(request, pipeline, spec, dedup_key)


def _imported(text: str, pipeline: Pipeline) -> str:
    """A GitLab CI or GitHub Actions file as a Sluice pipeline; refused (the run rejected,
    with the report) when it asks for anything the import does not carry over."""
    imported = import_pipeline(text, name=pipeline.name)
    if imported.dropped:
        report = render(pipeline.config_path, imported.dropped)
        raise ImportRefused(
            f"{pipeline.config_path} asks for what Sluice would not do "
            f"(sluice import shows it all; convert it and edit the result):\n{report}",
            line=None,
        )
    return imported.pipeline_yaml


def _invalid(error: PipelineInvalid, pipeline: Pipeline, request: RunRequested) -> str:
    return describe_invalid(error, pipeline.config_path, request.commit_sha)
