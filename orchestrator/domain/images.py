"""Images a pipeline builds and later stages run: ``${{ images.NAME }}`` (pure).

An image build stage (``build_image: {name: app}``) pushes ``<registry>/app:<commit sha>``
(and ``:<branch>``). A later stage that needs it writes ``image: ${{ images.app }}``; the
reference resolves from the run's commit alone (:func:`resolve_image`), so the runner can
resolve it without reading the run's history, and a replay resolves it the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from orchestrator.domain.errors import InvalidValue, PipelineError
from orchestrator.domain.model import StageSpec

__all__ = [
    "IMAGE_NAME",
    "branch_tag",
    "built_image_name",
    "check_image_refs",
    "image_name_ok",
    "resolve_image",
]

IMAGE_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
_REF = re.compile(r"\$\{\{\s*images\.([A-Za-z0-9._/-]+)\s*\}\}")
_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def image_name_ok(name: str) -> bool:
    """Whether ``name`` can be an image repository name (lower case, ``._-/`` inside)."""
    return len(name) <= 128 and IMAGE_NAME.fullmatch(name) is not None


def built_image_name(image: str) -> str | None:
    """``${{ images.app }}`` → ``app``; any other image → None."""
    match = _REF.fullmatch(image.strip())
    return match.group(1) if match else None


def resolve_image(image: str, commit_sha: str) -> str:
    """The image to pull: ``${{ images.app }}`` → ``app:<commit sha>``; others unchanged."""
    name = built_image_name(image)
    return image if name is None else f"{name}:{commit_sha}"


def branch_tag(branch: str) -> str:
    """A branch as an image tag (``feature/x`` → ``feature-x``; at most 128 characters)."""
    tag = _TAG_BAD.sub("-", branch).lstrip(".-") or "branch"
    return tag[:128]


def check_image_refs(
    stages: Sequence[StageSpec],
    ancestors: Mapping[str, set[str]],
    lines: Mapping[str, int | None],
) -> list[PipelineError]:
    """Each ``${{ images.NAME }}`` must name an image built by a stage the user needs."""
    builders = {s.build_image.name: s.name for s in stages if s.build_image is not None}
    errors: list[PipelineError] = []
    for stage in stages:
        written = [("image", stage.image)]
        if stage.deploy is not None and stage.deploy.image:
            written.append(("deploy.image", stage.deploy.image))
        for key, image in written:
            name = built_image_name(image)
            builder = builders.get(name) if name is not None else None
            if name is None or (builder is not None and builder in ancestors.get(stage.name, ())):
                continue
            allowed = _allowed(builders, ancestors.get(stage.name, set()))
            where = f"stage {stage.name!r} {key}"
            errors.append(InvalidValue(where, image, allowed, line=lines.get(stage.name)))
    return errors


def _allowed(builders: Mapping[str, str], ancestors: set[str]) -> str:
    usable = sorted(n for n, s in builders.items() if s in ancestors)
    if usable:
        return "one of " + ", ".join(f"${{{{ images.{n} }}}}" for n in usable)
    return "an image built by a build_image stage this stage needs (directly or not)"
