"""Store.lookup against a model: exact id, else exact name, else a unique id prefix."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocimux.base.errors import ConflictError, ContainerNotFoundError
from ocimux.engine.store import ContainerRecord, Store

# Small alphabets make shared prefixes, names equal to ids and pattern characters common.
IDS = st.text(alphabet="0123ab*?[]", min_size=1, max_size=5)
NAMES = st.text(alphabet="0ab_.-*", min_size=1, max_size=4)
PAIRS = st.lists(
    st.tuples(IDS, NAMES), max_size=8, unique_by=(lambda pair: pair[0], lambda pair: pair[1])
)


def expected(pairs: list[tuple[str, str]], ref: str) -> str | type[Exception]:
    """The id `ref` should find, or the error it should raise."""
    for cid, _ in pairs:
        if cid == ref:
            return cid
    for cid, name in pairs:
        if name == ref:
            return cid
    matches = [cid for cid, _ in pairs if ref and cid.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    return ConflictError if matches else ContainerNotFoundError


def test_lookup_agrees_with_the_model(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:

        @settings(max_examples=300, deadline=None, database=None)
        @given(pairs=PAIRS, data=st.data())
        def check(pairs: list[tuple[str, str]], data: st.DataObject) -> None:
            for old in store.list_containers():
                store.remove_container(old.id)
            for cid, name in pairs:
                store.add_container(ContainerRecord(cid, name, "mock", "/b", "created"))
            known = [text for pair in pairs for text in pair]
            ref = data.draw(
                st.one_of(
                    st.sampled_from(known).flatmap(
                        lambda text: st.integers(0, len(text)).map(lambda n: text[:n])
                    )
                    if known
                    else st.nothing(),
                    IDS,
                    NAMES,
                    st.just(""),
                ),
                label="ref",
            )
            want = expected(pairs, ref)
            if isinstance(want, str):
                assert store.lookup(ref).id == want
                return
            with pytest.raises(want) as info:
                store.lookup(ref)
            if want is ConflictError:
                matches = sorted(cid for cid, _ in pairs if cid.startswith(ref))
                listed = str(info.value).split("(", 1)[1].split(")", 1)[0]
                assert listed.split(", ")[: min(5, len(matches))] == matches[:5]
            else:
                assert repr(ref) in str(info.value)

        check()
