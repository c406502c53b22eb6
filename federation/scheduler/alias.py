"""Walker's alias method (Vose's construction): O(n) to build, O(1) a pick."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from federation.scheduler.errors import NoHealthyEndpointError


@dataclass(frozen=True, slots=True)
class AliasTable:
    """Picks index i with probability weights[i] / sum(weights)."""

    keep: tuple[float, ...]  # chance of keeping column i rather than taking its alias
    alias: tuple[int, ...]

    @classmethod
    def build(cls, weights: Sequence[float]) -> AliasTable:
        if any(weight < 0 for weight in weights):
            raise ValueError(f"alias table weights must be 0 or more, got {list(weights)}")
        total = float(sum(weights))
        size = len(weights)
        if total <= 0:
            return cls((), ())
        scaled = [weight * size / total for weight in weights]
        keep = [1.0] * size
        alias = list(range(size))
        small = [index for index, value in enumerate(scaled) if value < 1.0]
        large = [index for index, value in enumerate(scaled) if value >= 1.0]
        while small and large:
            less, more = small.pop(), large.pop()
            keep[less] = scaled[less]
            alias[less] = more
            scaled[more] -= 1.0 - scaled[less]
            (small if scaled[more] < 1.0 else large).append(more)
        # Whatever is left is 1 up to float rounding (Vose 1991, numerically stable variant),
        # so those columns keep themselves.
        return cls(tuple(keep), tuple(alias))

    def __len__(self) -> int:
        return len(self.keep)

    def pick_index(self, u1: float, u2: float) -> int:
        """Index for two uniform numbers in [0, 1): one picks a column, one a side of it."""
        if not self.keep:
            raise NoHealthyEndpointError("nothing to pick from: every weight is 0")
        column = min(int(u1 * len(self.keep)), len(self.keep) - 1)
        return column if u2 < self.keep[column] else self.alias[column]

    def pick(self, rng: random.Random) -> int:
        return self.pick_index(rng.random(), rng.random())
