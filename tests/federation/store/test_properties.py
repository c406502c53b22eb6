"""Properties every backend must share with plain Python semantics, for arbitrary keys."""

from __future__ import annotations

from itertools import count

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from federation.store import Store

# Any Unicode text a str can hold and UTF-8 can encode (lone surrogates cannot be stored).
keys = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
_examples = count()

pytest_settings = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest_settings
@given(suffixes=st.lists(keys, max_size=8, unique=True), prefix=keys)
@example(suffixes=["a\x00b", "a", "a\U0010ffff", "a\x7f", "ab", "b"], prefix="a")
@example(suffixes=["[x", "*", "?", "%_", "x"], prefix="")
async def test_list_prefix_agrees_with_python_startswith_and_sorted(
    store: Store, suffixes: list[str], prefix: str
) -> None:
    # Each example gets its own folder, because the store fixture outlives examples.
    folder = f"ex{next(_examples)}/"
    for suffix in suffixes:
        await store.put(folder + suffix, suffix.encode())
    listed = await store.list_prefix(folder + prefix)
    expected = sorted(folder + s for s in suffixes if s.startswith(prefix))
    assert [r.key for r in listed] == expected
    assert all(r.value == r.key[len(folder) :].encode() for r in listed)


@pytest_settings
@given(
    writes=st.lists(
        st.tuples(st.sampled_from(["put", "cas", "delete"]), st.sampled_from("abc")), max_size=12
    )
)
async def test_each_write_advances_the_revision_by_exactly_one(
    store: Store, writes: list[tuple[str, str]]
) -> None:
    folder = f"rev{next(_examples)}/"
    for op, name in writes:
        key = folder + name
        before = await store.revision()
        current = await store.get(key)
        if op == "delete":
            assert await store.delete(key) is (current is not None)
            assert await store.revision() == before + (current is not None)
            continue
        expect = (current.revision if current else 0) if op == "cas" else None
        written = await store.put(key, op.encode(), expect_revision=expect)
        assert written.revision == before + 1 == await store.revision()
        assert await store.get(key) == written
