"""Image references."""

from __future__ import annotations

from runners.executor import image_ref


def test_a_short_image_name_is_pulled_from_the_local_registry() -> None:
    assert image_ref("debian-git:bookworm", "127.0.0.1:5000") == (
        "127.0.0.1:5000/debian-git:bookworm"
    )


def test_an_image_with_its_own_registry_is_kept() -> None:
    assert image_ref("registry.example.com/x/y:1", "127.0.0.1:5000") == (
        "registry.example.com/x/y:1"
    )
