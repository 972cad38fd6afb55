"""The toolchain catalogue (infra/images.txt) and the Dockerfiles made from it."""

from __future__ import annotations

import pytest

from runners.errors import ImageNotFound
from runners.imagebuild import point_from_lines
from runners.registry import suggest
from runners.toolchains import (
    BASE_IMAGE,
    Toolchain,
    UnknownToolchain,
    dockerfile,
    find,
    load_catalogue,
    parse_catalogue,
)
from schemas.errors import DomainError


def test_the_catalogue_has_the_names_people_write() -> None:
    names = {t.ref for t in load_catalogue()}

    assert {"python:3.11", "golang:1.19", "gcc:12", "node:18"} <= names


def test_every_image_adds_git_and_ca_certificates() -> None:
    for toolchain in load_catalogue():
        assert {"git", "ca-certificates"} <= set(toolchain.packages), toolchain.ref


def test_comments_and_blank_lines_are_skipped() -> None:
    parsed = parse_catalogue("# images\n\nnode:18  nodejs npm  # JavaScript\n")

    assert parsed == (Toolchain("node", "18", ("nodejs", "npm", "git", "ca-certificates")),)


def test_a_line_without_packages_names_its_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_catalogue("python:3.11 python3\nnode:18\n")


def test_a_changed_line_changes_the_fingerprint_and_only_that_one() -> None:
    before = parse_catalogue("a:1 x\nb:1 y\n")
    after = parse_catalogue("a:1 x z\nb:1 y\n")

    assert before[0].fingerprint != after[0].fingerprint
    assert before[1].fingerprint == after[1].fingerprint


def test_the_dockerfile_installs_the_line_on_the_base_image() -> None:
    toolchain = parse_catalogue("gcc:12 build-essential cmake\n")[0]

    text = dockerfile(toolchain, "127.0.0.1:5000")

    assert text.startswith(f"FROM 127.0.0.1:5000/{BASE_IMAGE}\n")
    assert "apt-get install -y --no-install-recommends build-essential cmake git" in text
    assert f'sluice.catalogue="{toolchain.fingerprint}"' in text


def test_an_unknown_name_lists_the_catalogue() -> None:
    with pytest.raises(UnknownToolchain, match=r"python:3\.11"):
        find(load_catalogue(), "ruby:3")


def test_a_from_line_without_registry_points_at_the_local_registry() -> None:
    text = (
        "FROM python:3.11 AS build\nRUN make\n"
        "FROM --platform=linux/amd64 build\nFROM scratch\nfrom gcc:12\n"
        "FROM 127.0.0.1:5000/app:1\n"
    )

    assert point_from_lines(text, "127.0.0.1:5000").splitlines() == [
        "FROM 127.0.0.1:5000/python:3.11 AS build",
        "RUN make",
        "FROM --platform=linux/amd64 build",
        "FROM scratch",
        "from 127.0.0.1:5000/gcc:12",
        "FROM 127.0.0.1:5000/app:1",
    ]


def test_a_misspelt_image_suggests_the_close_one() -> None:
    held = ["debian-git:bookworm", "gcc:12", "golang:1.19", "python:3.11"]

    assert suggest("pyhton:3.11", held) == ["python:3.11"]
    assert suggest("rust:1", held) == []


def test_a_missing_image_is_the_users_to_fix() -> None:
    assert issubclass(ImageNotFound, DomainError)
