"""Deploy pipelines shared by the deployer's tests and benchmarks."""

from __future__ import annotations

__all__ = ["THREE_REPLICAS"]

# a rolling deploy of three instances; format with env= and image=
THREE_REPLICAS = """
name: ship
stages:
  deploy:
    deploy:
      environment: {env}
      image: "{image}"
      replicas: 3
      health_check: {{path: /healthz, interval: 200ms, healthy_deadline: 20s}}
"""
