"""The O(1) pick follows its weights."""

import random
from collections import Counter

import pytest

from federation.scheduler.alias import AliasTable
from federation.scheduler.errors import NoHealthyEndpointError

PICKS = 100_000


@pytest.mark.parametrize(
    "weights",
    [[1.0], [70.0, 30.0], [1.0, 2.0, 3.0, 4.0], [0.5, 0.0, 99.5], [5.0] * 7, [1e-3, 1.0, 1e3]],
)
def test_observed_frequencies_match_weights_within_one_point(weights: list[float]) -> None:
    table = AliasTable.build(weights)
    rng = random.Random(1234)
    counts = Counter(table.pick(rng) for _ in range(PICKS))
    total = sum(weights)
    for index, weight in enumerate(weights):
        assert abs(100 * counts[index] / PICKS - 100 * weight / total) <= 1.0
        if weight == 0:
            assert counts[index] == 0


def test_same_seed_same_picks() -> None:
    table = AliasTable.build([3.0, 1.0, 6.0])
    first = [table.pick(random.Random(7)) for _ in range(3)]
    again = [table.pick(random.Random(7)) for _ in range(3)]
    assert first == again


def test_pick_index_maps_uniforms_to_columns() -> None:
    table = AliasTable.build([1.0, 1.0])
    assert table.pick_index(0.0, 0.5) == 0
    assert table.pick_index(0.99, 0.5) == 1


def test_all_zero_weights_cannot_pick() -> None:
    with pytest.raises(NoHealthyEndpointError):
        AliasTable.build([0.0, 0.0]).pick(random.Random(0))


def test_negative_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        AliasTable.build([1.0, -1.0])
