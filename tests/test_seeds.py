"""Tests of the synthetic population generator and the SNAP signed-graph loader."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from credence.core.errors import ParameterError, ValidationError
from credence.graph.model import parse_distrust, parse_links, parse_repayments, parse_spending, parse_users
from credence.seeds.snap import SignedGraph, parse_signed_edges, read_signed_edges
from credence.seeds.synthetic import Population, PopulationConfig, generate_population

DAY = 86_400
STRING = pd.StringDtype()
BITCOIN_ALPHA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bitcoin-alpha.csv"

USERS_SCHEMA = {
    "id": STRING,
    "created": np.dtype("int64"),
    "phone_verified": np.dtype("bool"),
    "id_verified": np.dtype("bool"),
    "face_verified": np.dtype("bool"),
    "education_verified": np.dtype("bool"),
    "employer_verified": np.dtype("bool"),
    "declared_income": np.dtype("float64"),
    "verified_income": np.dtype("float64"),
    "verified_assets": np.dtype("float64"),
    "consent_network": np.dtype("bool"),
}
LINKS_SCHEMA = {
    "source": STRING,
    "target": STRING,
    "weight": np.dtype("float64"),
    "created": np.dtype("int64"),
}
REPAYMENTS_SCHEMA = {
    "id": STRING,
    "user": STRING,
    "due": np.dtype("int64"),
    "paid": pd.Int64Dtype(),
    "amount": np.dtype("float64"),
    "status": STRING,
}
SPENDING_SCHEMA = {
    "id": STRING,
    "user": STRING,
    "at": np.dtype("int64"),
    "amount": np.dtype("float64"),
    "category": STRING,
    "on_time": pd.BooleanDtype(),
}
LABELS_SCHEMA = {
    "user": STRING,
    "community": np.dtype("int64"),
    "group": STRING,
    "latent": np.dtype("float64"),
    "is_sybil": np.dtype("bool"),
    "ring": np.dtype("int64"),
}


def assert_schema(frame: pd.DataFrame, schema: dict[str, object]) -> None:
    assert list(frame.columns) == list(schema)
    for column, dtype in schema.items():
        assert frame[column].dtype == dtype, (column, frame[column].dtype, dtype)


def degrees(pop: Population) -> pd.Series:
    ends = pd.concat([pop.links["source"], pop.links["target"]], ignore_index=True)
    return ends.value_counts().reindex(pop.users["id"], fill_value=0)


def label_of(pop: Population, column: str, ids: pd.Series) -> np.ndarray:
    return pop.labels.set_index("user")[column].loc[ids].to_numpy()


@pytest.fixture(scope="module")
def pop() -> Population:
    return generate_population(n_users=5_000, sybil_regions=2, sybils_per_region=150, seed=7)


@pytest.fixture(scope="module")
def default_pop() -> Population:
    return generate_population()


# --------------------------------------------------------------------------- synthetic


def test_same_seed_same_population() -> None:
    a = generate_population(n_users=2_000, seed=3)
    b = generate_population(PopulationConfig(n_users=2_000, seed=3))
    for name in ("users", "links", "repayments", "spending", "labels"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def test_different_seed_different_population() -> None:
    a = generate_population(n_users=2_000, seed=3)
    b = generate_population(n_users=2_000, seed=4)
    for name in ("users", "links", "repayments", "spending", "labels"):
        assert not getattr(a, name).equals(getattr(b, name)), name


def test_overrides_replace_config_fields() -> None:
    base = PopulationConfig(n_users=1_000, sybils_per_region=50, seed=1)
    pop = generate_population(base, rings=0)
    assert len(pop.users) == 1_000
    assert (pop.labels["ring"] == -1).all()


def test_schemas_and_dtypes(pop: Population) -> None:
    assert_schema(pop.users, USERS_SCHEMA)
    assert_schema(pop.links, LINKS_SCHEMA)
    assert_schema(pop.repayments, REPAYMENTS_SCHEMA)
    assert_schema(pop.spending, SPENDING_SCHEMA)
    assert_schema(pop.labels, LABELS_SCHEMA)


def test_frames_pass_the_model_validation(pop: Population) -> None:
    """The project's one validation layer accepts the frames unchanged."""
    now = PopulationConfig().now
    for name, parse in [
        ("users", parse_users),
        ("links", parse_links),
        ("repayments", parse_repayments),
        ("spending", parse_spending),
    ]:
        frame = getattr(pop, name)
        pd.testing.assert_frame_equal(parse(frame, now=now), frame)


def test_ids(pop: Population) -> None:
    users = pop.users["id"]
    assert users.is_unique
    assert users.iloc[0] == "u0001"
    assert users.iloc[-1] == "u5000"
    assert users.str.fullmatch(r"u\d{4}").all()
    assert pop.repayments["id"].is_unique
    assert pop.repayments["id"].str.fullmatch(r"r\d+").all()
    assert pop.spending["id"].is_unique
    assert pop.spending["id"].str.fullmatch(r"s\d+").all()
    assert pop.labels["user"].equals(users)
    known = set(users)
    for frame, column in [
        (pop.links, "source"),
        (pop.links, "target"),
        (pop.repayments, "user"),
        (pop.spending, "user"),
    ]:
        assert set(frame[column]) <= known


def test_user_rules(pop: Population) -> None:
    now = PopulationConfig().now
    users = pop.users
    assert (users["created"] <= now).all()
    assert (users["created"] >= now - 8 * 365 * DAY).all()
    for column in ("declared_income", "verified_income", "verified_assets"):
        values = users[column]
        assert (values.dropna() > 0).all()
        assert values.isna().any()
        assert values.notna().any()
    # face verification implies a real-name ID check
    assert not (users["face_verified"] & ~users["id_verified"]).any()


def test_link_rules(pop: Population) -> None:
    now = PopulationConfig().now
    links = pop.links
    assert np.isfinite(links["weight"]).all()
    assert (links["weight"] > 0).all()
    assert (links["created"] <= now).all()
    created = pop.users.set_index("id")["created"]
    later = np.maximum(created.loc[links["source"]].to_numpy(), created.loc[links["target"]].to_numpy())
    assert (links["created"].to_numpy() >= later).all()


def test_no_self_links_or_duplicate_pairs(pop: Population) -> None:
    links = pop.links
    assert (links["source"] != links["target"]).all()
    lo = np.minimum(links["source"], links["target"])
    hi = np.maximum(links["source"], links["target"])
    assert not pd.DataFrame({"lo": lo, "hi": hi}).duplicated().any()


def test_repayment_rules(pop: Population) -> None:
    now = PopulationConfig().now
    rep = pop.repayments
    status = rep["status"]
    assert set(status) <= {"pending", "on_time", "late", "missed", "defaulted"}
    assert set(status) == {"pending", "on_time", "late", "missed", "defaulted"}
    assert np.isfinite(rep["amount"]).all()
    assert (rep["amount"] > 0).all()
    pending = (status == "pending").to_numpy()
    assert (rep["due"][pending] > now).all()
    assert (rep["due"][~pending] <= now).all()
    paid_required = status.isin(["on_time", "late"]).to_numpy()
    assert rep["paid"][paid_required].notna().all()
    assert rep["paid"][~paid_required].isna().all()
    paid = rep["paid"].to_numpy(dtype=np.int64, na_value=0)
    assert (paid[paid_required] <= now).all()
    end_of_due_day = rep["due"].to_numpy() // DAY * DAY + DAY - 1
    on_time = (status == "on_time").to_numpy()
    late = (status == "late").to_numpy()
    assert (paid[on_time] <= end_of_due_day[on_time]).all()
    assert (paid[late] > end_of_due_day[late]).all()
    # events come grouped by user, in time order
    keys = pd.DataFrame({"user": rep["user"], "due": rep["due"]})
    assert keys.equals(keys.sort_values(["user", "due"], kind="stable"))


def test_spending_rules(pop: Population) -> None:
    now = PopulationConfig().now
    sp = pop.spending
    assert set(sp["category"]) == {"purchase", "bill"}
    bill = (sp["category"] == "bill").to_numpy()
    assert sp["on_time"][bill].notna().all()
    assert sp["on_time"][~bill].isna().all()
    assert (sp["at"] <= now).all()
    created = pop.users.set_index("id")["created"].loc[sp["user"]].to_numpy()
    assert (sp["at"].to_numpy() >= created).all()
    assert np.isfinite(sp["amount"]).all()
    assert (sp["amount"] > 0).all()


def test_labels(pop: Population) -> None:
    labels = pop.labels
    assert labels["latent"].between(0, 1).all()
    assert set(labels["group"]) == {"A", "B"}
    sybil = labels["is_sybil"].to_numpy()
    assert sybil.sum() == 300
    assert (labels["community"][sybil] == -1).all()
    assert (labels["community"][~sybil] >= 0).all()
    assert (labels["ring"][sybil] == -1).all()
    assert labels["ring"].value_counts().drop(-1).eq(8).all()


def test_event_volume(default_pop: Population) -> None:
    n = len(default_pop.users)
    assert 3.6 < len(default_pop.repayments) / n < 4.4
    assert 2.5 < len(default_pop.spending) / n < 3.3


@pytest.mark.parametrize(
    ("n_users", "avg_degree"), [(1_000, 20.0), (5_000, 6.0), (10_000, 20.0), (3_000, 50.0)]
)
def test_average_degree_close_to_target(n_users: int, avg_degree: float) -> None:
    pop = generate_population(n_users=n_users, avg_degree=avg_degree, sybils_per_region=n_users // 20)
    realised = 2 * len(pop.links) / n_users
    assert abs(realised - avg_degree) <= 0.15 * avg_degree


def test_heavy_tailed_degrees(default_pop: Population) -> None:
    deg = degrees(default_pop)
    # a Poisson degree of mean 20 would stay below 2 * 20 among 10,000 users
    assert deg.max() > 8 * deg.mean()
    assert (deg >= 5 * deg.mean()).sum() >= 10
    assert deg.median() < deg.mean()


@pytest.mark.parametrize(("homophily", "exponent"), [(0.0, 2.5), (0.85, 2.5), (0.85, 3.0)])
def test_degree_tail_follows_the_exponent(homophily: float, exponent: float) -> None:
    pop = generate_population(n_users=100_000, homophily=homophily, degree_exponent=exponent)
    deg = degrees(pop).to_numpy()
    ks = np.array([40, 80, 160, 320, 640])
    ccdf = np.array([(deg >= k).mean() for k in ks])
    tail_index = -np.polyfit(np.log(ks), np.log(ccdf), 1)[0]  # P(deg >= k) ~ k**-tail_index
    assert exponent - 1 - 0.1 < tail_index < exponent - 1 + 0.3
    assert deg.max() > 50 * deg.mean()


@pytest.mark.parametrize("homophily", [0.0, 0.5, 0.85, 1.0])
def test_homophily(homophily: float) -> None:
    pop = generate_population(n_users=10_000, homophily=homophily, seed=2)
    links = pop.links
    background = ~(
        label_of(pop, "is_sybil", links["source"])
        | label_of(pop, "is_sybil", links["target"])
        | (label_of(pop, "ring", links["source"]) >= 0)
        | (label_of(pop, "ring", links["target"]) >= 0)
    )
    same = label_of(pop, "community", links["source"]) == label_of(pop, "community", links["target"])
    assert abs(same[background].mean() - homophily) < 0.02


def test_group_follows_the_network(default_pop: Population) -> None:
    labels = default_pop.labels[~default_pop.labels["is_sybil"]]
    share_b = (labels["group"] == "B").groupby(labels["community"]).mean()
    # communities differ in composition far more than binomial noise would make them
    assert share_b.std() > 0.2
    links = default_pop.links
    same_group = label_of(default_pop, "group", links["source"]) == label_of(
        default_pop, "group", links["target"]
    )
    p_b = (labels["group"] == "B").mean()
    assert same_group.mean() > (p_b**2 + (1 - p_b) ** 2) + 0.1


def test_latent_drives_on_time_rate(default_pop: Population) -> None:
    rep = default_pop.repayments
    done = rep[rep["status"] != "pending"]
    rate = (done["status"] == "on_time").groupby(done["user"]).mean()
    latent = default_pop.labels.set_index("user")["latent"].loc[rate.index]
    assert np.corrcoef(rate.to_numpy(), latent.to_numpy())[0, 1] > 0.3
    # and capacity and identity rise with it too
    users = default_pop.users.set_index("id")
    lat = default_pop.labels.set_index("user")["latent"]
    assert np.corrcoef(lat, users["id_verified"])[0, 1] > 0.1
    declared = users["declared_income"].dropna()
    assert np.corrcoef(lat.loc[declared.index], np.log(declared))[0, 1] > 0.3


def test_sybil_regions() -> None:
    cfg = PopulationConfig(n_users=4_000, sybil_regions=3, sybils_per_region=120, attack_links_per_region=7)
    pop = generate_population(cfg)
    links = pop.links
    s_sybil = label_of(pop, "is_sybil", links["source"])
    t_sybil = label_of(pop, "is_sybil", links["target"])
    assert (s_sybil != t_sybil).sum() == 7 * 3
    inside = s_sybil & t_sybil
    n_sybils = 3 * 120
    assert 2 * inside.sum() / n_sybils == pytest.approx(8.0, rel=0.05)
    sybils = pop.labels["is_sybil"].to_numpy()
    users = pop.users[sybils]
    assert (users["created"] >= cfg.now - 90 * DAY).all()
    flags = ["phone_verified", "id_verified", "face_verified"]
    assert not users[flags].to_numpy().any()
    assert users["verified_income"].isna().all()
    # thin histories
    per_user = pop.repayments["user"].value_counts()
    assert per_user.reindex(users["id"], fill_value=0).mean() < 0.5
    # sybils link only inside their own region: regions are separate components
    sybil_links = links[inside]
    ids, ends = np.unique(np.concatenate([sybil_links["source"], sybil_links["target"]]), return_inverse=True)
    half = len(sybil_links)
    adjacency = coo_array((np.ones(half), (ends[:half], ends[half:])), shape=(ids.size,) * 2)
    n_components, component = connected_components(adjacency, directed=False)
    assert n_components == 3
    assert sorted(np.bincount(component)) == [120, 120, 120]


# --------------------------------------------------------------------------- attack models

ATTACK_MODELS = ("random", "hubs", "mimic", "seeded")
MODEL_KW: dict[str, Any] = {
    "n_users": 6_000,
    "sybil_regions": 3,
    "sybils_per_region": 100,
    "attack_links_per_region": 15,
}


@pytest.fixture(scope="module")
def by_model() -> dict[str, Population]:
    return {model: generate_population(**MODEL_KW, seed=5, attack_model=model) for model in ATTACK_MODELS}


def attack_targets(pop: Population) -> pd.Series:
    """The real end of every attack link (one entry per link)."""
    links = pop.links
    s_sybil = label_of(pop, "is_sybil", links["source"])
    t_sybil = label_of(pop, "is_sybil", links["target"])
    attack = s_sybil != t_sybil
    return pd.Series(np.where(s_sybil[attack], links["target"][attack], links["source"][attack]))


def test_attack_model_is_validated() -> None:
    with pytest.raises(ParameterError, match="'random', 'hubs', 'mimic', 'seeded'") as info:
        PopulationConfig(attack_model="sneaky")
    assert info.value.name == "attack_model"
    assert PopulationConfig().attack_model == "random"


def value_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names, dtypes and values, independent of any text formatting.

    Numbers are hashed as little-endian float64/int64 bytes, strings as UTF-8 joined by
    a separator that cannot occur in them, missing values as a marker of their own, so
    the digest moves only when a value, a column or a dtype does.
    """
    digest = hashlib.sha256()
    for name in frame.columns:
        column = frame[name]
        missing = column.isna().to_numpy(dtype=bool)
        digest.update(f"{name}:{column.dtype}:".encode())
        digest.update(np.packbits(missing).tobytes())
        present = column[~missing]
        if pd.api.types.is_bool_dtype(column.dtype):
            digest.update(present.to_numpy(dtype=np.uint8).tobytes())
        elif pd.api.types.is_integer_dtype(column.dtype):
            digest.update(present.to_numpy(dtype="<i8").tobytes())
        elif pd.api.types.is_float_dtype(column.dtype):
            digest.update(present.to_numpy(dtype="<f8").tobytes())
        else:
            digest.update("\x1f".join(map(str, present.tolist())).encode())
    return digest.hexdigest()


def test_value_digest_sees_values_not_formatting() -> None:
    frame = pd.DataFrame({"a": [1, 2], "x": [0.1, float("nan")], "s": pd.array(["p", None], dtype="string")})
    assert value_digest(frame) == value_digest(frame.copy())
    changed = frame.copy()
    changed.loc[0, "x"] = np.nextafter(0.1, 1.0)  # one ulp away
    assert value_digest(changed) != value_digest(frame)
    assert value_digest(frame.astype({"a": "float64"})) != value_digest(frame)
    assert value_digest(frame.rename(columns={"s": "t"})) != value_digest(frame)


def test_default_attack_model_is_unchanged() -> None:
    """The default output is the one generated before attack models existed (pinned).

    The digests hash values, not ``to_csv`` text, so a new pandas or numpy that formats
    numbers differently does not move them. They were computed from the generator as it
    was before attack models existed (commit 263b7c0^) and from today's code, which agree.
    """
    kw: dict[str, Any] = {
        "n_users": 600,
        "sybils_per_region": 40,
        "attack_links_per_region": 6,
        "rings": 2,
        "ring_size": 5,
    }
    pop = generate_population(**kw, seed=11)
    explicit = generate_population(**kw, seed=11, attack_model="random")
    pinned = {
        "users": "7895e983589f7a5a8b49ad71ccc9f85c8c0f7a2c19cfd0668500b919cb0e1d19",
        "links": "e688f4d8e4a3ac908c49c63bc6e90788a644826a6f50d54511d97b67ddcaf9e7",
        "repayments": "cd1fbc6768ec260e71d89735a97048ff1549d935b21c91e2201ac76429285398",
        "spending": "1da64e4d07296ef10a06afbadd92ebb0fb7a120687f38f2514e992e4d7481f59",
        "labels": "db1633f53f3d436cc42b7d36840ebb8654b9c85e1827fb032128ba5f98a5e6d6",
    }
    for name, digest in pinned.items():
        frame = getattr(pop, name)
        pd.testing.assert_frame_equal(frame, getattr(explicit, name))
        assert value_digest(frame) == digest, name


@pytest.mark.parametrize("model", ATTACK_MODELS)
def test_attack_models_keep_the_plant(by_model: dict[str, Population], model: str) -> None:
    pop = by_model[model]
    labels = pop.labels
    assert len(pop.users) == MODEL_KW["n_users"]
    assert int(labels["is_sybil"].sum()) == 3 * 100
    assert (labels["community"][labels["is_sybil"]] == -1).all()
    assert (labels["ring"][labels["is_sybil"]] == -1).all()
    assert labels["ring"].value_counts().drop(-1).tolist() == [8] * 5
    links = pop.links
    assert (links["source"] < links["target"]).all()
    assert not links.duplicated(["source", "target"]).any()
    assert len(links) == MODEL_KW["n_users"] * 20 // 2
    # exactly attack_links_per_region links per region, all to real users outside rings
    s_sybil = label_of(pop, "is_sybil", links["source"])
    t_sybil = label_of(pop, "is_sybil", links["target"])
    attack = links[s_sybil != t_sybil]
    assert len(attack) == 3 * 15
    assert (label_of(pop, "ring", attack_targets(pop)) == -1).all()
    # regions: separate connected components of sybil links, 15 attack links each
    inside = links[s_sybil & t_sybil]
    ids, ends = np.unique(np.concatenate([inside["source"], inside["target"]]), return_inverse=True)
    half = len(inside)
    adjacency = coo_array((np.ones(half), (ends[:half], ends[half:])), shape=(ids.size,) * 2)
    n_components, component = connected_components(adjacency, directed=False)
    assert n_components == 3
    assert sorted(np.bincount(component)) == [100, 100, 100]
    region = pd.Series(component, index=ids)
    sybil_end = np.where(label_of(pop, "is_sybil", attack["source"]), attack["source"], attack["target"])
    assert region.loc[sybil_end].value_counts().tolist() == [15, 15, 15]
    for name, parse in [("users", parse_users), ("links", parse_links), ("repayments", parse_repayments)]:
        parse(getattr(pop, name), now=pop.now)


def test_attack_models_share_the_honest_population(by_model: dict[str, Population]) -> None:
    base = by_model["random"]
    real = ~base.labels["is_sybil"].to_numpy()

    def non_attack(pop: Population) -> pd.DataFrame:
        links = pop.links
        keep = label_of(pop, "is_sybil", links["source"]) == label_of(pop, "is_sybil", links["target"])
        return links[keep].reset_index(drop=True)

    for model in ("hubs", "seeded"):
        pop = by_model[model]
        for name in ("users", "repayments", "spending", "labels"):
            pd.testing.assert_frame_equal(getattr(pop, name), getattr(base, name))
        pd.testing.assert_frame_equal(non_attack(pop), non_attack(base))
        assert set(attack_targets(pop)) != set(attack_targets(base))
    mimic = by_model["mimic"]
    pd.testing.assert_frame_equal(mimic.users[real], base.users[real])
    pd.testing.assert_frame_equal(mimic.labels[real], base.labels[real])


def test_hubs_attack_popular_users(by_model: dict[str, Population]) -> None:
    def mean_target_degree(pop: Population) -> float:
        return float(degrees(pop).loc[attack_targets(pop)].mean())

    hubs, random = mean_target_degree(by_model["hubs"]), mean_target_degree(by_model["random"])
    assert hubs > 1.5 * random
    assert random < 2 * 20


def test_mimic_sybils_look_honest(by_model: dict[str, Population]) -> None:
    pop, base = by_model["mimic"], by_model["random"]
    links = pop.links
    inside = label_of(pop, "is_sybil", links["source"]) & label_of(pop, "is_sybil", links["target"])
    assert 2 * inside.sum() / 300 == pytest.approx(20.0, rel=0.02)  # avg_degree, not 8
    sybil = pop.labels["is_sybil"].to_numpy()
    deg, base_deg = degrees(pop)[sybil], degrees(base)[sybil]
    assert deg.max() > 2 * deg.median()  # spread out, like honest degrees
    assert deg.std() > 2 * base_deg.std()
    users = pop.users[sybil]
    age = (pop.now - users["created"]) / DAY
    assert (age > 90).mean() > 0.5  # not all recent
    assert age.median() == pytest.approx(((pop.now - pop.users["created"][~sybil]) / DAY).median(), rel=0.3)
    assert 0.1 < users["id_verified"].mean() < pop.users["id_verified"][~sybil].mean()
    assert users["phone_verified"].mean() > 0.5
    assert users["verified_income"].isna().all()
    # honest-like attack weights, heavier than the light ones of the other models
    attack = label_of(pop, "is_sybil", links["source"]) != label_of(pop, "is_sybil", links["target"])
    base_links = base.links
    base_attack = label_of(base, "is_sybil", base_links["source"]) != label_of(
        base, "is_sybil", base_links["target"]
    )
    assert links["weight"][attack].mean() > base_links["weight"][base_attack].mean() + 0.5
    # a history like low-latent honest users: as many repayments, a lower on-time rate
    latent = pop.labels["latent"]
    assert latent[sybil].max() <= latent[~sybil & (pop.labels["ring"] < 0).to_numpy()].median()
    per_user = pop.repayments["user"].value_counts().reindex(pop.users["id"], fill_value=0)
    assert per_user[sybil].mean() == pytest.approx(per_user[~sybil].mean(), rel=0.25)


def test_seeded_attack_verified_users_and_their_friends(by_model: dict[str, Population]) -> None:
    pop = by_model["seeded"]
    verified = set(pop.users["id"][pop.users["id_verified"]])
    links = pop.links
    friends_of_verified = set(links["target"][links["source"].isin(verified)]) | set(
        links["source"][links["target"].isin(verified)]
    )
    targets = attack_targets(pop)
    assert targets.isin(verified | friends_of_verified).all()
    assert targets.isin(verified).mean() > 0.5  # half of them directly, most friends verified too


@pytest.mark.parametrize("model", ATTACK_MODELS)
def test_attack_models_in_a_tiny_population(model: str) -> None:
    """Planted links leave no room for background links (so "seeded" finds no friends)."""
    pop = generate_population(
        n_users=40,
        avg_degree=0.5,
        sybils_per_region=10,
        attack_links_per_region=3,
        rings=0,
        attack_model=model,
    )
    assert len(attack_targets(pop)) == 3
    assert not pop.links.duplicated(["source", "target"]).any()
    assert (pop.links["source"] < pop.links["target"]).all()


def test_rings_are_heavy_cliques_with_few_outsiders() -> None:
    pop = generate_population(n_users=3_000, sybils_per_region=100, rings=4, ring_size=6)
    links = pop.links
    s_ring = label_of(pop, "ring", links["source"])
    t_ring = label_of(pop, "ring", links["target"])
    ring_links = (s_ring >= 0) & (s_ring == t_ring)
    assert ring_links.sum() == 4 * 6 * 5 // 2
    for r in range(4):
        members = set(pop.labels["user"][pop.labels["ring"] == r])
        assert len(members) == 6
        inside = links[(s_ring == r) & (t_ring == r)]
        pairs = {frozenset(p) for p in zip(inside["source"], inside["target"], strict=True)}
        assert len(pairs) == 15  # a clique
        assert set(inside["source"]) | set(inside["target"]) == members
    other = links["weight"][~ring_links]
    assert links["weight"][ring_links].min() > other.median()
    # each member is linked to one to three outsiders, never to another ring
    ring_of = pop.labels.set_index("user")["ring"]
    deg = degrees(pop)
    in_rings = ring_of[ring_of >= 0].index
    outside = deg.loc[in_rings] - 5
    assert outside.between(1, 3).all()
    assert not ((s_ring >= 0) & (t_ring >= 0) & (s_ring != t_ring)).any()
    latent = pop.labels.set_index("user")["latent"]
    assert latent.loc[in_rings].mean() < latent.drop(in_rings).mean() - 0.2


def test_tiny_population_without_fraud() -> None:
    pop = generate_population(n_users=20, avg_degree=2.0, sybil_regions=0, rings=0)
    assert len(pop.users) == 20
    assert len(pop.links) == 20
    assert not pop.labels["is_sybil"].any()


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"n_users": 10}, "n_users"),
        ({"n_users": 5000.0}, "n_users"),
        ({"n_users": True}, "n_users"),
        ({"avg_degree": 0.0}, "avg_degree"),
        ({"avg_degree": float("nan")}, "avg_degree"),
        ({"avg_degree": 5_000.0}, "avg_degree"),
        ({"avg_degree": "20"}, "avg_degree"),
        ({"n_communities": 0}, "n_communities"),
        ({"n_communities": 20_000}, "n_communities"),
        ({"homophily": -0.1}, "homophily"),
        ({"homophily": 1.01}, "homophily"),
        ({"degree_exponent": 2.0}, "degree_exponent"),
        ({"degree_exponent": float("inf")}, "degree_exponent"),
        ({"sybil_regions": -1}, "sybil_regions"),
        ({"sybils_per_region": 5}, "sybils_per_region"),
        ({"attack_links_per_region": -1}, "attack_links_per_region"),
        ({"attack_links_per_region": 10**9}, "attack_links_per_region"),
        ({"rings": -2}, "rings"),
        ({"ring_size": 2}, "ring_size"),
        ({"sybil_regions": 30}, "n_users"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"now": 0}, "now"),
        ({"colour": "blue"}, "colour"),
        ({"attack_model": "hub"}, "attack_model"),
        ({"attack_model": None}, "attack_model"),
    ],
)
def test_bad_config_raises_parameter_error(overrides: dict[str, object], name: str) -> None:
    with pytest.raises(ParameterError) as info:
        generate_population(**overrides)  # type: ignore[arg-type]
    assert info.value.name == name
    assert name in str(info.value)


def test_config_must_be_a_population_config() -> None:
    with pytest.raises(ParameterError, match="config"):
        generate_population({"n_users": 100})  # type: ignore[arg-type]


def test_no_fraud_parameters_need_no_sizes() -> None:
    cfg = PopulationConfig(
        n_users=100, avg_degree=5.0, sybil_regions=0, sybils_per_region=0, rings=0, ring_size=0
    )
    assert generate_population(cfg).labels["ring"].eq(-1).all()


# --------------------------------------------------------------------------- SNAP


def ratings(rows: list[tuple[object, object, object, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["source", "target", "weight", "timestamp"])


def test_reciprocal_ratings_merge_into_one_link() -> None:
    graph = parse_signed_edges(ratings([(1, 2, 4, 300), (2, 1, 2, 100), (3, 1, 10, 200)]))
    assert isinstance(graph, SignedGraph)
    links = graph.links
    assert list(links["source"]) == ["1", "1"]
    assert list(links["target"]) == ["2", "3"]
    assert list(links["weight"]) == [3.0, 10.0]
    assert list(links["created"]) == [100, 200]
    assert graph.distrust.empty
    assert_schema(links, LINKS_SCHEMA)


def test_negative_ratings_go_to_distrust() -> None:
    graph = parse_signed_edges(ratings([(1, 2, 5, 10), (2, 1, -3, 20), (4, 1, -10, 5), (2, 3, 1, 30)]))
    assert list(zip(graph.links["source"], graph.links["target"], strict=True)) == [
        ("1", "2"),
        ("2", "3"),
    ]
    assert list(graph.links["weight"]) == [5.0, 1.0]  # the negative rating is not averaged in
    distrust = graph.distrust
    assert list(distrust.columns) == ["rater", "rated", "weight", "created"]
    assert distrust["rater"].dtype == STRING
    assert distrust["rated"].dtype == STRING
    assert distrust["weight"].dtype == np.float64
    assert distrust["created"].dtype == np.int64
    assert distrust.to_dict("list") == {
        "rater": ["2", "4"],
        "rated": ["1", "1"],
        "weight": [3.0, 10.0],  # the magnitude of the negative rating
        "created": [20, 5],
    }
    pd.testing.assert_frame_equal(parse_distrust(distrust, now=100), distrust, check_dtype=False)
    # users include those seen only in distrust, created at their first appearance
    users = graph.users
    assert_schema(users, USERS_SCHEMA)
    assert users.set_index("id")["created"].to_dict() == {"1": 5, "2": 10, "3": 30, "4": 5}
    flags = [c for c in USERS_SCHEMA if c.endswith("_verified")]
    assert not users[flags].to_numpy().any()
    assert users[["declared_income", "verified_income", "verified_assets"]].isna().all().all()
    assert users["consent_network"].all()


def test_the_latest_rating_of_an_ordered_pair_decides_distrust() -> None:
    graph = parse_signed_edges(
        ratings(
            [
                (1, 2, 5, 10),  # 1 -> 2: positive, then negative: distrust (and the link stays)
                (1, 2, -4, 20),
                (3, 1, -2, 10),  # 3 -> 1: negative, then positive: no distrust
                (3, 1, 6, 30),
                (2, 3, -1, 40),  # 2 -> 3: two at the same time: the later row wins
                (2, 3, -7, 40),
                (3, 2, 2, 50),  # 3 -> 2: positive only
                (2, 1, -9, 15),  # 2 -> 1: the other direction of 1 -> 2 is a pair of its own
            ]
        )
    )
    assert graph.distrust.to_dict("list") == {
        "rater": ["1", "2", "2"],
        "rated": ["2", "1", "3"],
        "weight": [4.0, 9.0, 7.0],
        "created": [20, 15, 40],
    }
    assert list(zip(graph.links["source"], graph.links["target"], strict=True)) == [
        ("1", "2"),
        ("1", "3"),
        ("2", "3"),
    ]


def test_text_input_reads_like_numbers() -> None:
    numbers = parse_signed_edges(ratings([(7, 12, 3, 1000), (12, 7, 5, 900), (12, 8, -1, 950)]))
    text = parse_signed_edges(
        ratings([("7", "12", "3", "1000"), ("12", "7", "5", "900.5"), (" 12", "8", "-1", "950")])
    )
    for name in ("users", "links", "distrust"):
        pd.testing.assert_frame_equal(getattr(numbers, name), getattr(text, name))


def test_empty_table() -> None:
    graph = parse_signed_edges(ratings([]))
    assert graph.users.empty
    assert graph.links.empty
    assert graph.distrust.empty
    assert_schema(graph.users, USERS_SCHEMA)
    assert_schema(graph.links, LINKS_SCHEMA)
    pd.testing.assert_frame_equal(parse_users(graph.users), graph.users)
    pd.testing.assert_frame_equal(parse_links(graph.links), graph.links)


@pytest.mark.parametrize(
    ("bad_row", "column", "value"),
    [
        (("x1", "2", "3", "10"), "source", "x1"),
        (("1", "2.5", "3", "10"), "target", "2.5"),
        (("1", "2", "0", "10"), "weight", "0"),
        (("1", "2", "11", "10"), "weight", "11"),
        (("1", "2", "-10.5", "10"), "weight", "-10.5"),
        (("1", "2", "good", "10"), "weight", "good"),
        (("1", "2", "3", ""), "timestamp", ""),
        (("1", "", "3", "10"), "target", ""),
        (("1", "2", "3", "yesterday"), "timestamp", "yesterday"),
        (("2", "2", "3", "10"), "target", "2"),
    ],
)
def test_malformed_row_is_named(bad_row: tuple[str, ...], column: str, value: str) -> None:
    rows: list[tuple[object, ...]] = [("1", "2", "3", "10"), ("3", "4", "-2", "11"), bad_row]
    with pytest.raises(ValidationError) as info:
        parse_signed_edges(ratings(rows), source_name="trust.csv")  # type: ignore[arg-type]
    err = info.value
    assert (err.entity, err.row, err.column, err.value) == ("rating", 3, column, value)
    assert err.source == "trust.csv"
    assert str(err).startswith(f"trust.csv, rating row 3, column '{column}'")


def test_numeric_malformed_values() -> None:
    with pytest.raises(ValidationError) as info:
        parse_signed_edges(ratings([(1, 2, 3, 10), (1.5, 2, 3, 10)]))
    assert (info.value.row, info.value.column, info.value.value) == (2, "source", 1.5)
    with pytest.raises(ValidationError) as info:
        parse_signed_edges(ratings([(1, 2, 3, 10), (1, 3, -11, 10)]))
    assert (info.value.row, info.value.column, info.value.value) == (2, "weight", -11)
    with pytest.raises(ValidationError) as info:
        parse_signed_edges(ratings([(1, 2, 3, 10), (1, 3, float("nan"), 10)]))
    assert (info.value.row, info.value.column) == (2, "weight")


def test_missing_column() -> None:
    table = ratings([(1, 2, 3, 10)]).drop(columns="timestamp")
    with pytest.raises(ValidationError, match="timestamp") as info:
        parse_signed_edges(table)
    assert info.value.column == "timestamp"
    assert info.value.row is None


def test_read_signed_edges(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("source,target,weight,timestamp\n1,2,4,300\n2,1,2,100\n3,1,-4,50\n")
    graph = read_signed_edges(good)
    assert len(graph.users) == 3
    assert graph.links.to_dict("list") == {
        "source": ["1"],
        "target": ["2"],
        "weight": [3.0],
        "created": [100],
    }
    assert len(graph.distrust) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("source,target,weight,timestamp\n1,2,4,300\n2,1,,100\n")
    with pytest.raises(ValidationError, match=r"^bad\.csv, rating row 2, column 'weight'"):
        read_signed_edges(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValidationError, match="empty"):
        read_signed_edges(empty)


def test_bitcoin_alpha() -> None:
    if not BITCOIN_ALPHA.exists():
        pytest.skip(f"{BITCOIN_ALPHA} is not on this machine (see shared/data/README.md)")
    graph = read_signed_edges(BITCOIN_ALPHA)
    # SNAP: 3,783 users, 24,186 ratings, 1,536 of them negative
    assert len(graph.users) == 3_783
    assert len(graph.distrust) == 1_536
    assert len(graph.links) == 12_972  # 22,650 positive ratings, merged per pair
    assert graph.users["id"].is_unique
    assert (graph.links["source"] != graph.links["target"]).all()
    assert graph.links["weight"].between(1, 10).all()
    assert graph.distrust["weight"].between(1, 10).all()
    assert_schema(graph.users, USERS_SCHEMA)
    assert_schema(graph.links, LINKS_SCHEMA)
    pd.testing.assert_frame_equal(parse_users(graph.users), graph.users)
    pd.testing.assert_frame_equal(parse_links(graph.links), graph.links)
