"""Prefect flow `deploy` (`make deploy`): package the champion (import it into the BentoML
store) and restart the background service on it, then wait until it is ready."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger, task

from newsrec.bootstrap import context
from newsrec.stages.package import package as package_stage
from newsrec.stages.serve import restart


@task(name="package")
def package() -> dict:
    """models:/newsrec-ranker@champion into the BentoML store (no Bento build)."""
    ctx = context()
    return asdict(package_stage(ctx.paths, ctx.registry, build=False, say=get_run_logger().info))


@task(name="serve", retries=1, retry_delay_seconds=5)
def serve() -> str:
    """Stop the running service (if any) and start it again on the new model; its address."""
    ctx = context()
    return restart(ctx.params.serve, ctx.paths, say=get_run_logger().info)


@flow(name="deploy")
def deploy() -> dict:
    packaged = package()
    return {"package": packaged, "url": serve()}


if __name__ == "__main__":
    deploy()
