"""The profiles: `local` (default; embedded files, no servers) and `prod` (real servers).

`NEWSREC_PROFILE=prod` (or `make <target> PROFILE=prod`) selects the servers; their
addresses come from the environment, with defaults for one machine (`make up` starts what
is missing there). No secret is kept here: PostgreSQL uses the machine's trust
authentication unless NEWSREC_PG_URL carries credentials, and the S3 keys are read from
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the local S3 stand-in accepts any).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

PROFILES = ("local", "prod")
USES = ("mlflow", "prefect", "feast")  # one PostgreSQL database each, named <db_prefix>_<use>


@dataclass(frozen=True)
class Endpoints:
    """Where the prod profile's servers are (each from its environment variable)."""

    postgres: str  # NEWSREC_PG_URL: postgresql://user[:password]@host:port, no database
    redis: str  # NEWSREC_REDIS: host:port
    mlflow: str  # MLFLOW_TRACKING_URI: the tracking server
    prefect: str  # PREFECT_API_URL: the Prefect server's API
    s3: str  # NEWSREC_S3_ENDPOINT: an S3-compatible endpoint (empty: AWS itself)
    bucket: str  # NEWSREC_S3_BUCKET: DVC's remote and MLflow's artifacts live under it
    prometheus: str  # NEWSREC_PROMETHEUS: the Prometheus server
    pushgateway: str  # NEWSREC_PUSHGATEWAY: where monitoring pushes its numbers for Prometheus
    db_prefix: str = "newsrec"  # NEWSREC_DB_PREFIX: the databases are <prefix>_mlflow, _prefect, _feast
    namespace: str = ""  # NEWSREC_NAMESPACE: a project's Feast stores and Redis keys (default: db_prefix)

    @property
    def feast_namespace(self) -> str:
        return self.namespace or self.db_prefix

    @property
    def databases(self) -> dict[str, str]:
        return {use: f"{self.db_prefix}_{use}" for use in USES}

    def database(self, use: str, driver: str = "") -> str:
        """The URL of one of the project's databases (`use`: mlflow, prefect, feast), with
        a SQLAlchemy driver suffix such as `+psycopg` or `+asyncpg`."""
        scheme, rest = self.postgres.split("://", 1)
        return f"{scheme}{driver}://{rest.rstrip('/')}/{self.databases[use]}"

    @property
    def redis_host_port(self) -> tuple[str, int]:
        host, _, port = self.redis.rpartition(":")
        return host or "127.0.0.1", int(port or 6379)


def profile(env: Mapping[str, str] | None = None) -> str:
    """The profile in use: NEWSREC_PROFILE, `local` when unset."""
    name = (env if env is not None else os.environ).get("NEWSREC_PROFILE", "") or "local"
    if name not in PROFILES:
        raise ValueError(f"NEWSREC_PROFILE={name!r}: the profiles are {', '.join(PROFILES)}")
    return name


def endpoints(env: Mapping[str, str] | None = None) -> Endpoints:
    """The prod servers' addresses: the environment's, else this machine's defaults."""
    env = env if env is not None else os.environ
    return Endpoints(
        postgres=env.get("NEWSREC_PG_URL", "postgresql://postgres@127.0.0.1:5432"),
        redis=env.get("NEWSREC_REDIS", "127.0.0.1:6379"),
        mlflow=env.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"),
        prefect=env.get("PREFECT_API_URL", "http://127.0.0.1:4200/api"),
        s3=env.get("NEWSREC_S3_ENDPOINT", "http://127.0.0.1:5002"),
        bucket=env.get("NEWSREC_S3_BUCKET", "newsrec"),
        prometheus=env.get("NEWSREC_PROMETHEUS", "http://127.0.0.1:9090"),
        pushgateway=env.get("NEWSREC_PUSHGATEWAY", "http://127.0.0.1:9091"),
        db_prefix=env.get("NEWSREC_DB_PREFIX", "newsrec"),
        namespace=env.get("NEWSREC_NAMESPACE", ""),
    )


def pushgateway(env: Mapping[str, str] | None = None) -> str | None:
    """Where monitoring pushes its metrics: NEWSREC_PUSHGATEWAY, or on the prod profile its
    default; None on the local profile without it (nothing to push to)."""
    env = env if env is not None else os.environ
    if env.get("NEWSREC_PUSHGATEWAY"):
        return env["NEWSREC_PUSHGATEWAY"]
    return endpoints(env).pushgateway if profile(env) == "prod" else None
