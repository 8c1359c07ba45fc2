"""A person's own records through a live uvicorn server and gql, on SQLite and Neo4j.

Every change of a person's consent to network scoring is stored with its time and the
key that made it, in the change's own transaction; the person's app and admins read it,
analysts do not; a consent as it was, or a refused change, records nothing. The subject
export gives everything held about the person, checked here against the store's own
frames and the times formatted by the test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, epoch, iso, live_population

POPULATION = generate_population(n_users=600, seed=33)
IDS = POPULATION.users["id"].astype(str).tolist()
SET = "mutation($u: String!, $c: Boolean!) { setConsent(user: $u, consent: $c) { users { consentNetwork } } }"
HISTORY = "query($u: String!) { user(id: $u) { consentNetwork consentHistory { consent at actor } } }"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_population(request, tmp_path_factory.mktemp(f"consent-{request.param}"), POPULATION.dataset(),
                         POPULATION.now) as server:  # fmt: skip
        yield server


def test_each_consent_change_is_recorded_with_time_and_key(api: LiveApi) -> None:
    user = next(u for u in IDS if api.store.get_user(u).consent_network)
    assert api.run("app", HISTORY, u=user)["user"]["consentHistory"] == []
    started = time.time()
    api.run("app", SET, u=user, c=False)
    api.run("app", SET, u=user, c=False)  # as it already is: nothing to record
    api.run("admin", SET, u=user, c=True)
    data = api.run("app", HISTORY, u=user)["user"]
    history = data["consentHistory"]
    assert [(c["consent"], c["actor"]) for c in history] == [(False, "test-app"), (True, "test-admin")]
    assert all(started - 5 <= epoch(c["at"]) <= time.time() + 5 for c in history)
    assert epoch(history[0]["at"]) <= epoch(history[1]["at"])
    assert data["consentNetwork"] is True  # the latest change is the consent in force
    stored = api.store.consent_history(user)
    assert [(c.consent, c.actor, c.at) for c in stored] == [
        (c["consent"], c["actor"], epoch(c["at"])) for c in history
    ]
    assert api.run("admin", HISTORY, u=user)["user"]["consentHistory"] == history


def test_withdrawn_consent_is_the_consent_scoring_uses(api: LiveApi) -> None:
    user = next(u for u in IDS if api.store.get_user(u).consent_network and len(api.store.neighbors(u)) >= 3)
    api.run("app", SET, u=user, c=False)
    network = api.run("analyst", "query($u: String!) { user(id: $u) { network { participating value prior } } }",
                      u=user)["user"]["network"]  # fmt: skip
    assert network["participating"] is False and network["value"] == pytest.approx(network["prior"])
    assert api.run("app", HISTORY, u=user)["user"]["consentHistory"][-1]["consent"] is False


def test_analysts_cannot_read_consent_history_and_refusals_record_nothing(api: LiveApi) -> None:
    user = IDS[1]
    error = api.error("analyst", HISTORY, u=user)
    assert error["extensions"]["code"] == "FORBIDDEN", error
    before = api.store.consent_history(user)
    error = api.error("app", SET, u="nobody-here", c=False)
    assert error["extensions"]["code"] == "NOT_FOUND", error
    error = api.error("analyst", SET, u=user, c=not api.store.get_user(user).consent_network)
    assert error["extensions"]["code"] == "FORBIDDEN", error
    assert api.store.consent_history(user) == before


def test_the_subject_export_holds_everything_about_the_person(api: LiveApi) -> None:
    user = next(u for u in IDS if len(api.store.neighbors(u)) >= 2 and len(api.store.repayments(u)) >= 1)
    api.run("analyst", "query($u: String!) { user(id: $u) { friends(first: 5) { totalCount } } }", u=user)
    api.run("app", SET, u=user, c=not api.store.get_user(user).consent_network)
    export = api.run("app", "query($u: String!) { user(id: $u) { subjectExport } }", u=user)["user"][
        "subjectExport"
    ]
    assert export["format"] == "credence-subject-export/1" and export["user_id"] == user
    stored = api.store.get_user(user)
    assert export["user"]["created"] == iso(stored.created)
    assert export["user"]["consent_network"] == stored.consent_network
    assert export["user"]["declared_income"] == stored.declared_income
    links = api.store.neighbors(user)
    assert [(x["user"], x["weight"], x["created"]) for x in export["links"]] == [
        (str(u), float(w), iso(c))
        for u, w, c in zip(links["user"], links["weight"], links["created"], strict=True)
    ]
    repayments = api.store.repayments(user)
    assert [(r["id"], r["due"], r["status"]) for r in export["repayments"]] == [
        (str(i), iso(d), str(s))
        for i, d, s in zip(repayments["id"], repayments["due"], repayments["status"], strict=True)
    ]
    assert all(r["paid"] is None or r["paid"].endswith("Z") for r in export["repayments"])
    assert len(export["spending"]) == len(api.store.spending(user))
    history = api.store.score_history(user)
    assert [s["score"] for s in export["score_history"]] == history["score"].tolist()
    assert [s["computed_at"] for s in export["score_history"]] == [iso(t) for t in history["computed_at"]]
    assert [(c["consent"], c["actor"]) for c in export["consent_history"]] == [
        (c.consent, c.actor) for c in api.store.consent_history(user)
    ]
    reads = [(e["actor"], e["action"]) for e in export["audit"]]
    assert ("test-analyst", "read:friends") in reads
    error = api.error("analyst", "query($u: String!) { user(id: $u) { subjectExport } }", u=user)
    assert error["extensions"]["code"] == "FORBIDDEN"
