"""Sluice runners: job-topic consumers that run stage attempts in Docker containers.

Start one with ``sluice runner --slots N`` (:func:`runners.main.run`). The modules, each
behind a small Protocol where an external system is involved:

| module | what it does |
| --- | --- |
| ``main`` | the loop: slots, claims (acknowledged before the offset commit), heartbeats |
| ``intake`` | one consumer per job topic, most urgent first, paused while holding a job |
| ``notices`` | what the decider tells this runner: claims accepted, leases lost, cancels |
| ``claim_gate``, ``cancels`` | start accepted claims; stop lost or cancelled attempts |
| ``attempt`` | one attempt end to end, from secrets to its outcome report |
| ``executor`` | Docker: pull (cached), limits, non-root, no network, always removed |
| ``workspace`` | the checkout at the exact commit (read-only /src) and /workspace |
| ``logs``, ``logstream`` | secret masking, ordered 64 KiB chunks, the gzip archive |
| ``artifacts`` | streamed tar upload (minio ``put_object``) with SHA-256 and a size limit |
| ``secrets``, ``history`` | encrypted secrets; JUnit outcomes to report, the test history |
| ``classify`` | pure: exit, OOM, timeout, JUnit → success or failure class |
| ``reporter``, ``messages`` | sends to ``sluice.inbox``, ``.logs``, ``.audit``, ``.tests`` |
| ``reaper`` | removes a dead runner's containers and reports its attempts failed |

Errors are drawn in :mod:`runners.errors`; settings are in :mod:`runners.config`.
"""
