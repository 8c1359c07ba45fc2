"""The scoring policy: parsing, validation, bands, benefits, score assembly."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from credence.core.errors import ParameterError
from credence.scoring.policy import (
    DEFAULT_POLICY_PATH,
    SCORE_MAX,
    SCORE_MIN,
    assemble_scores,
    parse_policy,
    read_policy,
)


def default_data() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_POLICY_PATH.read_text())


def test_default_policy_matches_design_weights() -> None:
    policy = read_policy(DEFAULT_POLICY_PATH)
    assert dict(policy.weights) == {
        "credit_history": 0.35,
        "fulfilment_capacity": 0.25,
        "behaviour": 0.20,
        "identity": 0.15,
        "connections": 0.05,
    }
    assert policy.diffusion.sharing == "bonus_only"


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (350, "poor"),
        (549, "poor"),
        (550, "fair"),
        (599, "fair"),
        (600, "good"),
        (649, "good"),
        (650, "very good"),
        (699, "very good"),
        (700, "excellent"),
        (950, "excellent"),
    ],
)
def test_band_edges(score: int, band: str) -> None:
    assert read_policy(DEFAULT_POLICY_PATH).band_names(np.array([score])).tolist() == [band]


def test_benefits_are_cumulative() -> None:
    policy = read_policy(DEFAULT_POLICY_PATH)
    assert policy.benefits_for(599) == ()
    assert policy.benefits_for(600) == ("credit_line",)
    assert policy.benefits_for(950) == ("credit_line", "deposit_free_rental", "fast_track_visa_documents")


def test_assemble_known_answers() -> None:
    weights = read_policy(DEFAULT_POLICY_PATH).weight_vector()
    # 350 + 600 * (0.35*1 + 0.25*0.5 + 0.2*0 + 0.15*1 + 0.05*0.5) = 350 + 600*0.65 = 740
    components = np.array([[1.0, 0.5, 0.0, 1.0, 0.5]])
    assert assemble_scores(components, weights).tolist() == [740]
    rng = np.random.default_rng(0)
    many = assemble_scores(rng.random((1000, 5)), weights)
    assert many.min() >= SCORE_MIN
    assert many.max() <= SCORE_MAX


def test_assemble_rejects_out_of_range() -> None:
    with pytest.raises(ParameterError):
        assemble_scores(np.array([[1.2, 0, 0, 0, 0]]), np.full(5, 0.2))


@pytest.mark.parametrize(
    ("edit", "name"),
    [
        (lambda d: d["weights"].update(connections=0.5), "weights"),
        (lambda d: d["weights"].pop("identity"), "weights"),
        (lambda d: d["weights"].update(identity=-0.1, connections=0.3), "weights.identity"),
        (lambda d: d["diffusion"].update(damping=1.0), "diffusion.damping"),
        (lambda d: d["diffusion"].update(sharing="punitive"), "diffusion.sharing"),
        (lambda d: d["diffusion"].update(policy="symmetric"), "diffusion.policy"),  # both spellings at once
        (lambda d: d["diffusion"].update(alpha=0.3), "diffusion.alpha"),
        (lambda d: d["bands"][0].update(min=300), "bands"),
        (lambda d: d["bands"].reverse(), "bands"),
        (lambda d: d["bands"][2].update(name="platinum"), "bands"),  # not a band name clients know
        (lambda d: d["bands"][1].update(name="good"), "bands"),  # a name twice
        (lambda d: d["bands"][3].update(name="fair"), "bands"),  # out of the vocabulary's order
        (lambda d: d["benefits"][0].update(min=1000), "benefits.credit_line.min"),
        (lambda d: d.update(version=""), "version"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_bad_policies(edit: Any, name: str) -> None:
    data = default_data()
    edit(data)
    with pytest.raises(ParameterError) as info:
        parse_policy(data)
    assert info.value.name == name


def test_a_policy_may_leave_bands_out() -> None:
    data = default_data()
    data["bands"] = [
        {"name": "poor", "min": 350},
        {"name": "good", "min": 620},
        {"name": "excellent", "min": 760},
    ]
    policy = parse_policy(data)
    assert policy.band_names(np.array([350, 619, 620, 759, 760])).tolist() == [
        "poor", "poor", "good", "good", "excellent",
    ]  # fmt: skip


def test_unreadable_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("version = [unclosed")
    with pytest.raises(ParameterError, match="cannot be read"):
        read_policy(path)


def test_a_policy_file_of_credence_0_1_still_reads() -> None:
    """Credence 0.1 spelled the sharing rule ``[diffusion] policy``; such files read unchanged."""
    data = tomllib.loads(DEFAULT_POLICY_PATH.read_text())
    data["diffusion"]["policy"] = "symmetric"
    del data["diffusion"]["sharing"]
    assert parse_policy(data).diffusion.sharing == "symmetric"
