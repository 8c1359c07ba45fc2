"""Records (the pandas-free path of small changes) against the frame parsers, the oracle.

Every ``*_records`` function must accept and refuse exactly what its ``parse_*``
function does on ``pd.DataFrame(rows)``, with the same error (class, message, row,
column, value), and produce the same parsed rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credence.core.errors import ValidationError
from credence.graph.model import (
    COMPONENTS,
    Records,
    link_records,
    parse_links,
    parse_repayments,
    parse_scores,
    parse_spending,
    repayment_records,
    score_records,
    spending_records,
)

NOW = 1_700_000_000
DAY = 86_400

texts = st.sampled_from(["r1", " r1 ", "r2", "ann", "bob", "", "   ", None, "x" * 129, "Ünï"])
times = st.sampled_from([None, 0, -5, NOW - 10 * DAY, NOW - 10 * DAY + 600, NOW - 7 * DAY, NOW + 10 * DAY,
                         NOW + 100, 40_000_000_000])  # fmt: skip
amounts = st.sampled_from([None, 5, 0, -1, 12.5, 0.0, -3.5, 1e13, float("nan"), float("inf"), 2.0])
statuses = st.sampled_from(["pending", "on_time", " LATE ", "late", "missed", "defaulted", "bogus", "", None])
categories = st.sampled_from(["purchase", "bill", " Bill", "food", "", None])
on_times = st.sampled_from([None, True, False])


def outcome(function: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """("ok", rows) or ("error", the error's class, message and fields)."""
    try:
        result = function(*args, **kwargs)
    except ValidationError as error:
        value = error.value
        if isinstance(value, float) and math.isnan(value):
            value = None
        return "error", (type(error), str(error), error.row, error.column, value)
    rows = result.rows if isinstance(result, Records) else Records.from_frame(kind_of(function), result).rows
    return "ok", rows


def kind_of(function: Any) -> str:
    return {parse_repayments: "repayments", parse_spending: "spending", parse_links: "links",
            parse_scores: "scores"}[function]  # fmt: skip


def same(records: tuple[str, Any], frame: tuple[str, Any]) -> None:
    assert records[0] == frame[0], (records, frame)
    if records[0] == "error":
        assert records[1] == frame[1]
    else:
        assert _normal(records[1]) == _normal(frame[1])


def _normal(rows: Any) -> Any:
    return [tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row) for row in rows]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({"id": texts, "user": texts, "due": times, "amount": amounts,
                                       "status": statuses}, optional={"paid": times}),
                min_size=1, max_size=3))  # fmt: skip
def test_repayment_records_are_parse_repayments(rows: list[dict[str, Any]]) -> None:
    same(outcome(repayment_records, rows, now=NOW), outcome(parse_repayments, pd.DataFrame(rows), now=NOW))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({"id": texts, "user": texts, "at": times, "amount": amounts,
                                       "category": categories}, optional={"on_time": on_times}),
                min_size=1, max_size=3))  # fmt: skip
def test_spending_records_are_parse_spending(rows: list[dict[str, Any]]) -> None:
    same(outcome(spending_records, rows, now=NOW), outcome(parse_spending, pd.DataFrame(rows), now=NOW))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({"source": texts, "target": texts},
                                      optional={"weight": amounts, "created": times}),
                min_size=1, max_size=3))  # fmt: skip
def test_link_records_are_parse_links(rows: list[dict[str, Any]]) -> None:
    if len({tuple(sorted(row)) for row in rows}) > 1:
        return  # a frame of rows with different columns fills the gaps with NaN: not comparable
    same(outcome(link_records, rows, now=NOW), outcome(parse_links, pd.DataFrame(rows), now=NOW))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["ann", " bob", "", "x" * 129]), min_size=0, max_size=3),
    st.sampled_from(["m1", " m1 ", ""]),
    st.sampled_from([349, 350, 651, 950, 951]),
    st.sampled_from([0.0, 0.5, 1.0, -0.1, 1.5, float("nan")]),
)
def test_score_records_are_parse_scores(users: list[str], version: str, score: int, value: float) -> None:
    m = len(users)
    scores = np.full(m, score, dtype=np.int64)
    components = np.full((m, len(COMPONENTS)), 0.5)
    if m:
        components[-1, m % len(COMPONENTS)] = value
    frame = pd.DataFrame({"user": users, "model_version": [version] * m, "computed_at": [NOW] * m,
                          "score": scores, **{c: components[:, k] for k, c in enumerate(COMPONENTS)}})  # fmt: skip
    same(outcome(score_records, users, version, NOW, scores, components), outcome(parse_scores, frame))


@pytest.mark.parametrize(
    ("function", "parser", "rows"),
    [
        (
            repayment_records,
            parse_repayments,
            [{"id": "r", "user": "u", "due": "2024-01-01", "amount": 1, "status": "pending"}],
        ),
        (
            repayment_records,
            parse_repayments,
            [{"id": "r", "user": "u", "due": 0, "amount": True, "status": "pending"}],
        ),
        (repayment_records, parse_repayments, [{"id": "r", "user": "u", "due": 0, "status": "pending"}]),
        (
            repayment_records,
            parse_repayments,
            [{"id": "r", "user": "u", "due": 0, "amount": 1, "status": "pending", "colour": "red"}],
        ),
        (
            spending_records,
            parse_spending,
            [{"id": "s", "user": "u", "at": 0, "amount": 1, "category": "bill", "on_time": "yes"}],
        ),
        (link_records, parse_links, [{"source": "a", "target": "b", "created": "2024-01-01"}]),
        (link_records, parse_links, [{"source": 7, "target": "b"}]),
    ],
)
def test_other_inputs_take_the_frame_parser(function: Any, parser: Any, rows: list[dict[str, Any]]) -> None:
    same(outcome(function, rows, now=NOW), outcome(parser, pd.DataFrame(rows), now=NOW))


def test_records_give_the_parsed_frame_back() -> None:
    rows = [{"id": "r1", "user": "ann", "due": NOW - DAY, "paid": NOW - DAY + 60, "amount": 5.0, "status": "on_time"},
            {"id": "r2", "user": "bob", "due": NOW - DAY, "amount": 7.0, "status": "missed"}]  # fmt: skip
    pd.testing.assert_frame_equal(repayment_records(rows, now=NOW).frame(), parse_repayments(pd.DataFrame(rows),
                                                                                              now=NOW))  # fmt: skip
    spend = [{"id": "s1", "user": "ann", "at": NOW - DAY, "amount": 5.0, "category": "bill", "on_time": False},
             {"id": "s2", "user": "ann", "at": NOW - DAY, "amount": 5.0, "category": "purchase"}]  # fmt: skip
    pd.testing.assert_frame_equal(spending_records(spend, now=NOW).frame(), parse_spending(pd.DataFrame(spend),
                                                                                            now=NOW))  # fmt: skip
    links = [{"source": "a", "target": "b", "weight": 2.0, "created": 5}]
    pd.testing.assert_frame_equal(
        link_records(links, now=NOW).frame(), parse_links(pd.DataFrame(links), now=NOW)
    )
    assert Records.from_frame("links", parse_links(pd.DataFrame(links), now=NOW)) == link_records(
        links, now=NOW
    )
