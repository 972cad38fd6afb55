"""Write the missing golden payloads: ``python -m schemas.golden_gen``.

For every version of every record, ``schemas/golden/<Record>/v<N>.bin`` holds one encoded
example (see :mod:`schemas.examples`). Existing files are never rewritten: an old
version's bytes are history, and the tests decode each of them with the current reader.
Run this after adding a record or a version, and commit what it writes.
"""

from __future__ import annotations

__all__ = ["GOLDEN_DIR", "golden_path", "main", "write_missing"]

from pathlib import Path

from schemas.codec import Codec, default_codec
from schemas.examples import example

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def golden_path(name: str, version: int, root: Path = GOLDEN_DIR) -> Path:
    """Where the golden payload of ``name`` version ``version`` lives."""
    return root / name / f"v{version}.bin"


def write_missing(codec: Codec, root: Path = GOLDEN_DIR) -> list[Path]:
    """Write a golden payload for every record version that has none; return what was written."""
    written = []
    for name in codec.record_names():
        for rv in codec.store.versions(name):
            path = golden_path(name, rv.version, root)
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(codec.encode(name, example(rv.schema), version=rv.version))
            written.append(path)
    return written


def main() -> None:
    """Write the missing golden payloads of this package's store and list them."""
    written = write_missing(default_codec())
    for path in written:
        print(f"wrote {path.relative_to(GOLDEN_DIR.parent)}")
    print(f"{len(written)} golden payload(s) written")


if __name__ == "__main__":
    main()
