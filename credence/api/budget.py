"""Per-key rate limits on the estimated cost of requests: a budget of points that refills.

Every operation has an estimated cost before it runs (:func:`~credence.api.limits.measure_operation`:
a field costs 1, a page multiplies what it selects, network evidence costs more). Each
API key has a bucket of ``budget`` points that refills at ``refill_per_second``; an
operation is run only if its cost is in the bucket, and then the cost is taken out.
Otherwise it is refused with ``LIMIT_EXCEEDED`` (``limit: "rate"``) and ``retry_after``,
the seconds until enough has refilled. Every answer reports the figures in
``extensions.cost`` and in ``X-RateLimit-*`` headers (GitHub's names).

Buckets live in the memory of one server process: with several workers, each keeps its
own (forwarded requests are charged on the primary).

Examples
--------
>>> buckets = CostBuckets(budget=100, refill_per_second=10)
>>> buckets.spend("app-1", 60, now=0.0).remaining
40
>>> buckets.spend("app-1", 60, now=1.0)  # 50 in the bucket: refused, retry in 1 s
Traceback (most recent call last):
...
credence.core.errors.LimitExceededError: rate is 60, above the limit of 50
>>> buckets.spend("app-1", 60, now=2.0).remaining
0
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from credence.core.errors import LimitExceededError

__all__ = ["CostBuckets", "Spent"]


@dataclass(frozen=True)
class Spent:
    """What one operation cost and what its key has left."""

    requested: int
    remaining: int
    budget: int
    refill_per_second: int

    def as_extension(self) -> dict[str, int]:
        """The ``extensions.cost`` of a response."""
        return {"requested": self.requested, "remaining": self.remaining, "budget": self.budget,
                "refillPerSecond": self.refill_per_second}  # fmt: skip

    def headers(self) -> dict[str, str]:
        """The ``X-RateLimit-*`` response headers."""
        return {"X-RateLimit-Limit": str(self.budget), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Cost": str(self.requested)}  # fmt: skip


@dataclass
class CostBuckets:
    """One bucket of cost points per key name (thread-safe).

    Parameters
    ----------
    budget : int
        Points a bucket holds when full (and the most one operation may cost).
    refill_per_second : int
        Points added back per second.
    """

    budget: int
    refill_per_second: int
    _levels: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def spend(self, name: str, cost: int, *, now: float | None = None) -> Spent:
        """Take ``cost`` points from ``name``'s bucket, or refuse.

        Raises
        ------
        LimitExceededError
            ``limit="rate"``, with ``retry_after`` seconds until the bucket holds ``cost``
            (nothing is taken then).
        """
        at = time.monotonic() if now is None else now
        with self._lock:
            level, since = self._levels.get(name, (float(self.budget), at))
            level = min(float(self.budget), level + (at - since) * self.refill_per_second)
            if cost > level:
                self._levels[name] = (level, at)
                wait = max(1, math.ceil((cost - level) / self.refill_per_second))
                raise LimitExceededError("rate", cost, int(level), retry_after=wait)
            level -= cost
            self._levels[name] = (level, at)
        return Spent(
            requested=cost, remaining=int(level), budget=self.budget, refill_per_second=self.refill_per_second
        )
