"""Store configuration objects: strict, keyword-only, and they never print a secret."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from credence.core.errors import ParameterError
from credence.graph.config import (
    Neo4jConfig,
    SQLiteConfig,
    resolve_store,
    store_config_from_dict,
)

SECRET = "pa55-w0rd-never-shown"


def test_a_neo4j_password_is_in_no_printed_form() -> None:
    config = Neo4jConfig(uri="bolt://db.example:7687", user="neo4j", password=SECRET)
    for text in (repr(config), str(config), config.describe(), f"{config}", json.dumps(config.as_dict())):
        assert SECRET not in text, text
    assert "***" in repr(config)
    assert config.password == SECRET  # still usable by open_store


@pytest.mark.parametrize(
    "uri", [f"http://neo4j:{SECRET}@db.example", f"bolt://neo4j:{SECRET}@db.example:7687"]
)
def test_credentials_in_a_uri_are_refused_without_being_echoed(uri: str) -> None:
    with pytest.raises(ParameterError) as info:
        Neo4jConfig(uri=uri)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.value)
    assert info.value.name == "uri"


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"uri": "bolt://h:7687", "user": "neo4j"}, "user"),
        ({"uri": "bolt://h:7687", "password": SECRET}, "user"),
        ({"uri": "bolt://h:7687", "database": ""}, "database"),
        ({"uri": 7687}, "uri"),
    ],
)
def test_neo4j_config_is_validated_on_creation(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ParameterError) as info:
        Neo4jConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.name == name


def test_configs_are_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        SQLiteConfig("x.db")  # type: ignore[misc]
    config = SQLiteConfig(path=Path("x.db"))
    with pytest.raises(AttributeError):
        config.path = Path("y.db")  # type: ignore[misc]
    with pytest.raises(ParameterError):
        SQLiteConfig(path=3)  # type: ignore[arg-type]


def test_precedence_flag_then_environment_then_default(tmp_path: Path) -> None:
    env = {"CREDENCE_HOME": str(tmp_path), "CREDENCE_NEO4J_URI": "bolt://h:7687", "CREDENCE_DB": "env.db"}
    assert resolve_store(db="flag.db", environ=env) == SQLiteConfig(path=Path("flag.db"))
    assert isinstance(resolve_store(environ=env), Neo4jConfig)
    assert resolve_store(neo4j_uri="neo4j://other:7687", environ={}).describe() == "neo4j:neo4j://other:7687"
    assert resolve_store(environ={"CREDENCE_DB": "env.db"}) == SQLiteConfig(path=Path("env.db"))
    assert resolve_store(environ={"CREDENCE_HOME": str(tmp_path)}).path == tmp_path / "credence.db"


def test_the_worker_form_round_trips_without_the_secret() -> None:
    config = Neo4jConfig(uri="bolt://h:7687", user="neo4j", password=SECRET, database="scores")
    data = json.loads(json.dumps(config.as_dict()))
    assert SECRET not in json.dumps(data)
    env = {"CREDENCE_NEO4J_USER": "neo4j", "CREDENCE_NEO4J_PASSWORD": SECRET}
    assert store_config_from_dict(data, env) == config
    sqlite = SQLiteConfig(path=Path("a.db"))
    assert store_config_from_dict(json.loads(json.dumps(sqlite.as_dict())), {}) == sqlite
    assert pickle.loads(pickle.dumps(sqlite)) == sqlite
    with pytest.raises(ParameterError):
        store_config_from_dict({"kind": "postgres"}, {})
