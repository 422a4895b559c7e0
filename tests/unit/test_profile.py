"""The profiles: local by default, prod's addresses from the environment with this machine's defaults."""

import pytest

from newsrec.profile import endpoints, profile


def test_local_is_the_default_and_an_unknown_profile_is_refused():
    assert profile({}) == "local" and profile({"NEWSREC_PROFILE": ""}) == "local"
    assert profile({"NEWSREC_PROFILE": "prod"}) == "prod"
    with pytest.raises(ValueError, match="the profiles are local, prod"):
        profile({"NEWSREC_PROFILE": "production"})


def test_prod_addresses_come_from_the_environment_with_defaults():
    ep = endpoints({})
    assert ep.mlflow == "http://127.0.0.1:5000" and ep.prefect == "http://127.0.0.1:4200/api"
    assert ep.database("mlflow", "+psycopg") == "postgresql+psycopg://postgres@127.0.0.1:5432/newsrec_mlflow"
    assert ep.redis_host_port == ("127.0.0.1", 6379) and ep.databases["feast"] == "newsrec_feast"
    ep = endpoints({"NEWSREC_PG_URL": "postgresql://u:pw@db.internal:6543/", "NEWSREC_REDIS": "cache:7000"})
    assert ep.database("prefect", "+asyncpg") == "postgresql+asyncpg://u:pw@db.internal:6543/newsrec_prefect"
    assert ep.redis_host_port == ("cache", 7000)


def test_the_demo_summary_names_where_the_runs_are_on_each_profile(monkeypatch, tmp_path):
    from newsrec.config import Paths
    from newsrec.summary import _mlflow_line

    paths = Paths(tmp_path)
    monkeypatch.delenv("NEWSREC_PROFILE", raising=False)
    assert "sqlite:///mlruns/mlflow.db" in _mlflow_line(paths)
    monkeypatch.setenv("NEWSREC_PROFILE", "prod")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("NEWSREC_DB_PREFIX", "team")
    line = _mlflow_line(paths)
    assert "http://mlflow.internal:5000" in line and "team_mlflow" in line and "sqlite" not in line
