# The few commands a newcomer needs. Everything installs itself; run as root on a fresh machine.
PY := .venv/bin/python
SHELL := /bin/bash

.PHONY: demo test setup images lint typecheck pytest unit bench status down clean-state

demo: setup  ## services up, then the sample pipeline end to end (a Python project in python:3.11); leaves processors, a runner and the API up
	.venv/bin/sluice images build python:3.11
	$(PY) -m orchestrator.demo

test: setup images lint typecheck pytest  ## services up, then the whole suite: ruff, mypy, pytest

setup:  ## install and start every real service, the Python env, topics, buckets, migrations
	infra/up

images:  ## the toolchain images of infra/images.txt (python:3.11, golang:1.19, ...), cached
	.venv/bin/sluice images build --all

lint:
	.venv/bin/ruff format --check .
	.venv/bin/ruff check .

typecheck:
	.venv/bin/mypy

pytest:
	.venv/bin/pytest

unit:  ## the pure core only: no services needed
	.venv/bin/pytest tests/unit

bench: setup
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

status:
	infra/status

down:  ## stop what make demo left running, then every service
	infra/down
