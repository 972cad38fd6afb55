"""Slack: the incoming-webhook message format, with a link to the run.

Slack's incoming webhooks take ``{"text": …, "blocks": […]}``; ``text`` is the fallback
shown in notifications, the ``section`` block the message itself, in Slack's mrkdwn with a
``<url|label>`` link to the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["slack_message", "slack_request", "summary"]

_ICONS = {
    "run.succeeded": ":white_check_mark:",
    "run.failed": ":x:",
    "stage.failed": ":warning:",
    "stage.start_timed_out": ":hourglass:",
    "deployment.succeeded": ":rocket:",
    "deployment.failed": ":x:",
    "deployment.rolled_back": ":rewind:",
    "test.flaky": ":game_die:",
}


def summary(payload: Mapping[str, Any]) -> str:
    """One plain line saying what happened (also the e-mail subject)."""
    run = payload["run"]
    what = str(payload["event"]).replace(".", " ").replace("_", " ")
    where = f"{run['pipeline_name']} on {run['branch']}"
    if payload.get("test"):
        return f"{what}: {payload['test']['name']} in stage {payload['stage']['name']} of {where}"
    if payload.get("stage"):
        return f"{what}: stage {payload['stage']['name']} of {where}"
    if payload.get("deployment"):
        return f"{what}: {payload['deployment']['environment']} from {where}"
    return f"{what}: {where}"


def slack_message(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The Slack incoming-webhook message for ``payload``."""
    run = payload["run"]
    icon = _ICONS.get(str(payload["event"]), ":bell:")
    lines = [
        f"{icon} *{summary(payload)}*",
        f"<{run['url']}|run {run['id'][:12]}> · commit `{run['commit_sha'][:10]}`",
    ]
    if payload.get("reason"):
        lines.append(f"> {payload['reason']}")
    return {
        "text": f"{summary(payload)}: {run['url']}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}],
    }


def slack_request(payload: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the POST to a Slack incoming webhook."""
    body = json.dumps(slack_message(payload)).encode()
    return body, {"Content-Type": "application/json", "User-Agent": "sluice-notifier/1"}
