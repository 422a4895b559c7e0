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


def _accepts_then_closes():
    """A TCP server that accepts every connection and closes it at once (a Redis gone
    mid-handshake), and counts the connections."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    count = [0]

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            count[0] += 1
            c.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv, count


def test_the_redis_clients_do_not_back_off_when_redis_is_gone():
    """While Redis is down, a request falls back and /readyz answers at once: the service's
    own client tries twice (one retry, for a connection a restart dropped), Feast's once; the
    library's default (3 retries with backoff) held each request for seconds."""
    import redis
    from feast.infra.online_stores.redis import RedisOnlineStore

    from newsrec.adapters.feast import RedisHome

    srv, count = _accepts_then_closes()
    try:
        port = srv.getsockname()[1]
        home = RedisHome(endpoints({"NEWSREC_REDIS": f"127.0.0.1:{port}"}))
        with pytest.raises(redis.ConnectionError):
            home.exists("any")
        assert count[0] == 2
        nodes, kwargs = RedisOnlineStore._parse_connection_string(home.feast_redis)
        assert nodes == [{"host": "127.0.0.1", "port": str(port)}]
        assert kwargs["retry"] is None and kwargs["socket_connect_timeout"] == 2
        count[0] = 0
        with pytest.raises(redis.ConnectionError):
            redis.Redis(host="127.0.0.1", port=port, **kwargs).exists("any")  # as Feast builds it
        assert count[0] == 1
    finally:
        srv.close()
