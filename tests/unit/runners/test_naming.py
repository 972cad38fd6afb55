"""Image references and heartbeat pacing."""

from __future__ import annotations

from runners.executor import image_ref
from runners.main import heartbeat_interval_ms


def test_a_short_image_name_is_pulled_from_the_local_registry() -> None:
    assert image_ref("debian-git:bookworm", "127.0.0.1:5000") == (
        "127.0.0.1:5000/debian-git:bookworm"
    )


def test_an_image_with_its_own_registry_is_kept() -> None:
    assert image_ref("registry.example.com/x/y:1", "127.0.0.1:5000") == (
        "registry.example.com/x/y:1"
    )


def test_heartbeats_come_every_third_of_the_lease_but_at_least_every_10_s() -> None:
    assert (heartbeat_interval_ms(3_000), heartbeat_interval_ms(3_600_000)) == (1_000, 10_000)
