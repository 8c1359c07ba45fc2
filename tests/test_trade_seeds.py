"""SybilRank's fallback seed rule on a graph without verification data (a trade network)."""

from __future__ import annotations

import pandas as pd
import pytest

from credence.analysis.investigate import sybil_suspects
from credence.core.errors import ParameterError
from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore


def engine_for(
    links: list[tuple[str, str]], created: dict[str, int], distrust: list[tuple[str, str]]
) -> ScoringEngine:
    store = SQLiteStore(":memory:")
    store.upsert_users(pd.DataFrame({"id": list(created), "created": list(created.values())}))
    store.upsert_links(
        pd.DataFrame({"source": [a for a, _ in links], "target": [b for _, b in links], "weight": 5.0})
    )
    if distrust:
        store.upsert_distrust(pd.DataFrame({"rater": [a for a, _ in distrust], "rated": [b for _, b in distrust],
                                            "weight": 6.0, "created": 50}))  # fmt: skip
    engine = ScoringEngine(store, now=1_000)
    engine.recompute(write=False)
    return engine


def test_long_standing_rated_users_seed_the_walk() -> None:
    # a, b, c, d are old (created 0..3), e..h new (10..13); median creation is 6.5.
    created = {u: t for u, t in zip("abcdefgh", [0, 1, 2, 3, 10, 11, 12, 13], strict=True)}
    links = [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "e"), ("d", "e"),
             ("e", "f"), ("e", "g"), ("f", "g"), ("g", "h"), ("a", "e")]  # fmt: skip
    # By hand: links per user a 4, b 3, c 3, d 3, e 5 ...; the old half with >= 3 links is
    # a, b, c, d; c is distrusted, so the seeds are a, b, d.
    engine = engine_for(links, created, [("h", "c")])
    report = sybil_suspects(engine, first=3, seed_groups=1)
    assert report.seed_rule == "long_standing_rated"
    assert report.seeds == 3
    assert {u for u, *_ in report.suspects}.isdisjoint({"a", "b", "d"})
    assert sybil_suspects(engine_for(links, created, []), seed_groups=1).seeds == 4  # c too, undistrusted


def test_no_eligible_seed_is_an_error() -> None:
    engine = engine_for([("a", "b")], {"a": 0, "b": 1}, [])
    with pytest.raises(ParameterError, match="long-standing"):
        sybil_suspects(engine)
