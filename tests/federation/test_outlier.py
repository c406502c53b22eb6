from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.outlier import OutlierDetector, OutlierDiff, OutlierSettings
from federation.retry import Outcome

OK = Outcome.response(200)
NOT_FOUND = Outcome.response(404)
E503 = Outcome.response(503)
REFUSED = Outcome.connect_failure()
RESET = Outcome.reset()

SETTINGS = OutlierSettings(
    consecutive_5xx=5,
    consecutive_connect_failures=3,
    base_ejection_time=30.0,
    max_ejection_percent=50,
)
HOSTS = ["a", "b", "c", "d"]


def _feed(detector: OutlierDetector, host: str, outcomes: list[Outcome], now: float) -> OutlierDiff:
    diff = OutlierDiff()
    for outcome in outcomes:
        diff = diff.merged(detector.record(host, outcome, now))
    return diff


@pytest.mark.parametrize(
    ("outcomes", "ejected"),
    [
        ([E503] * 4, False),
        ([E503] * 5, True),
        ([E503] * 4 + [OK] + [E503] * 4, False),
        ([E503] * 4 + [NOT_FOUND] + [E503], False),
        ([E503] * 4 + [RESET], True),
        ([E503] * 4 + [Outcome.timeout()], True),
        ([E503] * 4 + [REFUSED] + [E503], True),
        ([REFUSED] * 2, False),
        ([REFUSED] * 3, True),
        ([REFUSED] * 2 + [OK] + [REFUSED] * 2, False),
        ([REFUSED] * 2 + [E503] + [REFUSED] * 2, False),
        ([REFUSED] * 2 + [RESET] + [REFUSED], False),
    ],
)
def test_consecutive_failures_eject_and_the_relevant_success_resets(
    outcomes: list[Outcome], ejected: bool
) -> None:
    detector = OutlierDetector(SETTINGS, HOSTS)
    _feed(detector, "a", outcomes, now=0.0)
    assert ("a" in detector.ejected(0.0)) is ejected


@pytest.mark.parametrize(
    ("nth", "duration"), [(1, 30.0), (2, 60.0), (3, 90.0), (10, 300.0), (11, 300.0)]
)
def test_ejection_time_grows_with_each_ejection_up_to_the_cap(nth: int, duration: float) -> None:
    detector = OutlierDetector(SETTINGS, HOSTS)
    now = 0.0
    for _ in range(nth):
        diff = _feed(detector, "a", [REFUSED] * 3, now)
        now = diff.ejected[0].until
    ejection = diff.ejected[0]
    assert (ejection.times, ejection.duration) == (nth, duration)


def test_the_cap_is_never_below_the_base_ejection_time() -> None:
    slow = OutlierSettings(base_ejection_time=600.0, max_ejection_percent=100)
    detector = OutlierDetector(slow, ["a"])
    diff = _feed(detector, "a", [E503] * 5, 0.0)
    assert diff.ejected[0].duration == 600.0


def test_explanation_names_the_count_the_duration_and_the_cause() -> None:
    detector = OutlierDetector(SETTINGS, HOSTS)
    first = _feed(detector, "a", [E503] * 5, 0.0).ejected[0]
    second = _feed(detector, "a", [E503] * 5, 30.0).ejected[0]
    assert first.explanation == "ejected 1st time for 30s after 5 consecutive 5xx"
    assert second.explanation == "ejected 2nd time for 60s after 5 consecutive 5xx"
    refused = _feed(detector, "b", [REFUSED] * 3, 30.0).ejected[0]
    assert refused.explanation == "ejected 1st time for 30s after 3 consecutive connect failures"


def test_host_returns_exactly_when_its_ejection_ends() -> None:
    detector = OutlierDetector(SETTINGS, HOSTS)
    _feed(detector, "a", [E503] * 5, 100.0)
    assert detector.ejected(129.999) == {"a"}
    assert detector.expire(129.999) == OutlierDiff()
    assert detector.ejected(130.0) == frozenset()
    assert detector.expire(130.0) == OutlierDiff(returned=("a",))
    assert detector.expire(131.0) == OutlierDiff()


def test_a_returned_host_starts_counting_from_zero() -> None:
    detector = OutlierDetector(SETTINGS, HOSTS)
    _feed(detector, "a", [E503] * 5, 0.0)
    detector.expire(30.0)
    assert not _feed(detector, "a", [E503] * 4, 30.0)
    assert _feed(detector, "a", [E503], 30.0).ejected[0].host == "a"


def test_reports_about_an_ejected_host_do_not_extend_its_ejection() -> None:
    detector = OutlierDetector(SETTINGS, HOSTS)
    _feed(detector, "a", [E503] * 5, 0.0)
    assert _feed(detector, "a", [E503] * 20, 10.0) == OutlierDiff()
    assert detector.ejection("a", 10.0) is not None
    assert detector.expire(30.0).returned == ("a",)


def test_ejection_multiplier_decays_one_step_per_interval_back_in_service() -> None:
    detector = OutlierDetector(SETTINGS, HOSTS)  # interval 10 s
    now = 0.0
    for _ in range(3):
        now = _feed(detector, "a", [E503] * 5, now).ejected[0].until
    detector.expire(now)
    # 3 ejections, then 20 s (two intervals) in service: the next one is the 2nd, not the 4th.
    again = _feed(detector, "a", [E503] * 5, now + 25.0).ejected[0]
    assert (again.times, again.duration) == (2, 60.0)


@pytest.mark.parametrize(
    ("hosts", "percent", "ejectable"),
    [
        (4, 50, 2),
        (3, 50, 1),  # 2 of 3 is 66.7% > 50%: exact comparison, no rounding up
        (2, 50, 1),
        (5, 10, 0),  # 1 of 5 is 20% > 10%: Envoy's default ejects nobody in a small cluster
        (10, 10, 1),
        (10, 25, 2),
        (7, 100, 7),
        (7, 0, 0),
    ],
)
def test_max_ejection_percent_is_never_exceeded(hosts: int, percent: int, ejectable: int) -> None:
    names = [f"h{i}" for i in range(hosts)]
    detector = OutlierDetector(
        OutlierSettings(consecutive_5xx=1, max_ejection_percent=percent), names
    )
    diffs = [detector.record(name, E503, 0.0) for name in names]
    assert len(detector.ejected(0.0)) == ejectable
    assert sum(len(d.refused) for d in diffs) == hosts - ejectable


def test_a_refused_ejection_happens_on_the_next_failure_once_there_is_room() -> None:
    detector = OutlierDetector(SETTINGS, ["a", "b"])
    _feed(detector, "a", [E503] * 5, 0.0)
    refused = _feed(detector, "b", [E503] * 5, 1.0)
    assert refused.refused == (
        "b not ejected after 5 consecutive 5xx: 1 of 2 hosts already ejected "
        "and max_ejection_percent is 50",
    )
    diff = detector.record("b", E503, 30.0)
    assert diff.returned == ("a",)
    assert [e.host for e in diff.ejected] == ["b"]


def test_membership_changes_forget_departed_hosts_and_change_the_cap() -> None:
    detector = OutlierDetector(SETTINGS, ["a", "b"])
    _feed(detector, "a", [E503] * 5, 0.0)
    diff = detector.set_hosts(["b", "c", "d", "e"], 1.0)
    assert diff == OutlierDiff()
    assert detector.ejected(1.0) == frozenset()
    assert len(_feed(detector, "b", [E503] * 5, 1.0).ejected) == 1
    assert len(_feed(detector, "c", [E503] * 5, 1.0).ejected) == 1
    assert _feed(detector, "d", [E503] * 5, 1.0).refused


def test_reports_for_unknown_hosts_are_ignored() -> None:
    detector = OutlierDetector(SETTINGS, HOSTS)
    assert _feed(detector, "stranger", [E503] * 10, 0.0) == OutlierDiff()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"consecutive_5xx": 0},
        {"consecutive_connect_failures": 0},
        {"base_ejection_time": 0.0},
        {"max_ejection_percent": 101},
    ],
)
def test_settings_reject_values_that_cannot_work(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        OutlierSettings(**kwargs)  # type: ignore[arg-type]


_events = st.lists(
    st.tuples(
        st.integers(0, 9),
        st.sampled_from([OK, NOT_FOUND, E503, Outcome.response(502), REFUSED, RESET]),
        st.floats(0, 40, allow_nan=False),
    ),
    max_size=300,
)


@settings(max_examples=200)
@given(
    hosts=st.integers(1, 10),
    percent=st.integers(0, 100),
    threshold=st.integers(1, 3),
    events=_events,
)
def test_never_more_than_the_cap_ejected_whatever_the_reports(
    hosts: int, percent: int, threshold: int, events: list[tuple[int, Outcome, float]]
) -> None:
    names = [f"h{i}" for i in range(hosts)]
    detector = OutlierDetector(
        OutlierSettings(
            consecutive_5xx=threshold,
            consecutive_connect_failures=threshold,
            base_ejection_time=30.0,
            max_ejection_percent=percent,
        ),
        names,
    )
    cap = percent * hosts // 100
    now = 0.0
    ejected: set[str] = set()
    for index, outcome, step in events:
        now += step
        diff = detector.record(names[index % hosts], outcome, now)
        ejected -= set(diff.returned)
        ejected |= {e.host for e in diff.ejected}
        assert len(detector.ejected(now)) <= cap
        # The diffs replayed in order give the same set as asking the detector.
        assert ejected == detector.ejected(now)
