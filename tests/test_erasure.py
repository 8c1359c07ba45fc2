"""Erasure: everything about a person removed in one transaction, neighbours rescored, no way back for old data.

Checked in the engine (served equals stored equals a fresh engine restored from the
store), through GraphQL on SQLite and Neo4j, on the command line, and with a fault: an
erasure whose unit fails erases nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from credence.core.errors import ConflictError, NotFoundError
from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, iso, live_population

POPULATION = generate_population(n_users=600, seed=61)
IDS = POPULATION.users["id"].astype(str).tolist()
NOW = int(POPULATION.now)


@pytest.fixture
def engine(tmp_path: Any) -> Iterator[ScoringEngine]:
    store = SQLiteStore(tmp_path / "erase.db")
    store.load(POPULATION.dataset())
    engine = ScoringEngine(store, now=NOW)
    engine.recompute()
    yield engine
    store.close()


def _hub(engine: ScoringEngine) -> str:
    """A consenting, well-scored user with several friends (under bonus_only, one who lifts them)."""
    users = engine.store.get_all_users().set_index("id")
    scores = engine.scores().set_index("user")["score"]
    return next(u for u in scores.sort_values(ascending=False).index.astype(str)
                if users.loc[u, "consent_network"] and len(engine.store.neighbors(u)) >= 4)  # fmt: skip


def test_an_erasure_rescores_the_neighbours_and_leaves_served_equal_to_stored(engine: ScoringEngine) -> None:
    user = _hub(engine)
    neighbours = engine.store.neighbors(user)["user"].astype(str).tolist()
    count = len(engine.scores())
    erasure = engine.erase_user(user, actor="admin-key")
    assert {c.user for c in erasure.changes} & set(neighbours) and user not in {
        c.user for c in erasure.changes
    }
    assert erasure.pseudonym.startswith("erased:")
    with pytest.raises(NotFoundError):
        engine.score_of(user)
    served = engine.scores().set_index("user")["score"]
    assert len(served) == count - 1 and user not in served.index
    stored = engine.store.latest_scores().set_index("user")["score"]
    assert user not in stored.index
    assert (served.sort_index() == stored.loc[served.index].sort_index()).all()
    fresh = ScoringEngine(engine.store)
    assert fresh.restore() is not None
    again = fresh.scores().set_index("user")["score"]
    assert (again.sort_index() == served.sort_index()).all()
    with pytest.raises(ConflictError, match="erased"):
        engine.upsert_users(POPULATION.users[POPULATION.users["id"] == user])
    with pytest.raises(NotFoundError):
        engine.erase_user(user, actor="admin-key")


def test_an_erasure_whose_unit_fails_erases_nothing(engine: ScoringEngine) -> None:
    user = _hub(engine)
    before = (engine.store.stats().as_dict(), len(engine.store.score_history(user)))

    class Fault(Exception):
        pass

    def erase_then_fail() -> None:
        with engine.unit():
            engine.erase_user(user, actor="admin-key")
            raise Fault  # the commit never happens

    with pytest.raises(Fault):
        erase_then_fail()
    assert (engine.store.stats().as_dict(), len(engine.store.score_history(user))) == before
    assert not engine.store.is_erased(user)
    assert engine.restore() is not None  # memory had moved ahead: rebuilt from the store
    assert engine.score_of(user) == int(engine.store.score_history(user)["score"].iloc[-1])


def test_erase_on_the_command_line(engine: ScoringEngine) -> None:
    from click.testing import CliRunner

    from credence.cli.main import main

    user = _hub(engine)
    db = str(engine.store.path)
    refused = CliRunner().invoke(main, ["erase", user, "--db", db])
    assert refused.exit_code != 0 and "--yes" in refused.output
    assert not engine.store.is_erased(user)
    result = CliRunner().invoke(main, ["erase", user, "--yes", "--db", db])
    assert result.exit_code == 0 and "erased" in result.output, result.output
    assert engine.store.is_erased(user) and not engine.store.has_users([user])[0]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_population(request, tmp_path_factory.mktemp(f"erase-{request.param}"), POPULATION.dataset(),
                         POPULATION.now) as server:  # fmt: skip
        yield server


def test_erase_user_over_graphql(api: LiveApi) -> None:
    user = _hub_of(api)
    total = api.run("app", "{ users { totalCount } }")["users"]["totalCount"]
    api.run("analyst", "query($u: String!) { user(id: $u) { friends(first: 3) { totalCount } } }", u=user)
    assert (
        api.error("app", "mutation($u: String!) { eraseUser(user: $u) { erased } }", u=user)["extensions"][
            "code"
        ]
        == "FORBIDDEN"
    )
    done = api.run("admin", "mutation($u: String!) { eraseUser(user: $u) { erased pseudonym changes { userId } } }",
                   u=user)["eraseUser"]  # fmt: skip
    assert done["erased"] is True and done["pseudonym"].startswith("erased:")
    assert (
        api.error("app", "query($u: String!) { user(id: $u) { score } }", u=user)["extensions"]["code"]
        == "NOT_FOUND"
    )
    assert api.run("app", "{ users { totalCount } }")["users"]["totalCount"] == total - 1
    log = api.run("admin", "query($s: String!) { auditLog(subject: $s, first: 100) { entries { action detail } } }",
                  s=done["pseudonym"])["auditLog"]["entries"]  # fmt: skip
    assert [e["action"] for e in log][-1] == "erase" and "read:friends" in [e["action"] for e in log]
    assert (
        api.run("admin", "query($s: String!) { auditLog(subject: $s) { entries { id } } }", s=user)[
            "auditLog"
        ]["entries"]
        == []
    )
    back = api.error("app", "mutation($i: UserInput!) { upsertUser(input: $i) { users { userId } } }",
                     i={"id": user, "created": iso(NOW - 100 * 86_400)})  # fmt: skip
    assert back["extensions"]["code"] == "CONFLICT" and "erased" in back["message"]
    served = api.engine.scores().set_index("user")["score"]
    stored = api.store.latest_scores().set_index("user")["score"]
    assert (served.sort_index() == stored.loc[served.index].sort_index()).all()


def _hub_of(api: LiveApi) -> str:
    return _hub(api.engine)
