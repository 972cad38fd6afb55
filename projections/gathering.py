"""How long the decider waits to gather a bigger batch: a pure rule on the arrival rate.

A transaction costs the broker about ten requests whatever it carries (AddPartitionsToTxn,
a verification per partition written, AddOffsetsToTxn, TxnOffsetCommit, EndTxn, the
markers; JMX under bench/api.py), and the decider a commit's round trips. Under load the
decider took what had arrived while its last transaction ran, about two triggers, so half
of the broker's requests were transaction overhead. When records arrive fast enough that
more are expected within the window, the batch waits (at most that long) for them; when
fewer than one is expected, as when idle, it does not wait at all, so a lone trigger's
dispatch latency is unchanged.

It waits only when the decider is contended: its recent commits (``send_offsets`` and
``commit_transaction``, the broker's round trips, whatever the batch holds) take more than
twice its quickest (the machine or the broker is busy), which is when fewer transactions
save the most. Uncontended, a few hundred records a second go through without waiting.
bench/dispatch.py's "under ~200 transitions/s" row: p50 4.9 ms with no gathering, 15.5 ms
with a fixed 10 ms window, 15.1 ms in one run of 5.1 when the test timed whole
transactions (a gathered batch takes longer to handle, which kept it "contended"), 4.7-5.6
ms timing commits. Commits there take p50 3.2 ms (p10 2.6), under bench/api.py's
saturating load 6.6 ms (p90 13.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "CREEP",
    "HALF_LIFE_S",
    "WINDOW_S",
    "ArrivalRate",
    "TransactionPace",
    "gathering_window",
    "more_to_gather",
]

WINDOW_S = 0.010  # the longest a batch waits for more
HALF_LIFE_S = 1.0  # how fast the rate estimate forgets
CREEP = 1.0001  # the quickest transaction doubles in ~6,900 transactions unless one matches it


@dataclass(frozen=True, slots=True)
class ArrivalRate:
    """Records seen, each weighted by ``2 ** (-age / half_life_s)``: at a steady rate r its
    mass settles at ``r * half_life_s / ln 2``."""

    mass: float = 0.0
    at: float = 0.0
    half_life_s: float = HALF_LIFE_S

    def seen(self, count: int, now: float) -> ArrivalRate:
        """The estimate after ``count`` records arrived at ``now``."""
        return ArrivalRate(self._mass_at(now) + count, max(now, self.at), self.half_life_s)

    def per_s(self, now: float) -> float:
        """The estimated arrival rate at ``now``, in records a second."""
        return self._mass_at(now) * math.log(2) / self.half_life_s

    def _mass_at(self, now: float) -> float:
        age = max(0.0, now - self.at)
        return self.mass * math.exp2(-age / self.half_life_s)


@dataclass(frozen=True, slots=True)
class TransactionPace:
    """How long the decider's commits take: the quickest (what one costs when nothing
    competes; it creeps up by ``CREEP`` a commit, so a quicker past ages out) and an
    exponential moving average of the recent ones."""

    quickest_s: float = math.inf
    recent_s: float = 0.0

    def after(self, duration_s: float) -> TransactionPace:
        """The pace once a commit took ``duration_s``."""
        recent = duration_s if self.recent_s == 0 else self.recent_s * 0.8 + duration_s * 0.2
        return TransactionPace(min(self.quickest_s * CREEP, duration_s), recent)

    def contended(self) -> bool:
        """Whether recent commits take more than twice the quickest."""
        return self.recent_s > 2 * self.quickest_s


def gathering_window(pace: TransactionPace, longest_s: float = WINDOW_S) -> float:
    """How long a batch may wait for more: ``longest_s`` when contended, else not at all."""
    return longest_s if pace.contended() else 0.0


def more_to_gather(rate_per_s: float, window_s: float, have: int, most: int) -> int:
    """How many more records a batch of ``have`` should wait (up to ``window_s``) for: those
    expected within the window at ``rate_per_s``, never beyond ``most`` in all; 0, do not
    wait, when fewer than one is expected."""
    expected = int(rate_per_s * window_s)
    return max(0, min(expected, most - have))
