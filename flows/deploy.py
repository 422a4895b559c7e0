"""Prefect flow `deploy` (`make deploy`): package the champion (import it into the BentoML
store), then put it in service: a running service swaps to it without a restart and the
flow waits until every worker serves it; otherwise the service is started in the background.
Last, the version's monitoring reference is made, so its first night does not wait for it."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger, task

from flows import entry
from newsrec.bootstrap import context
from newsrec.stages.monitor import prepare_reference
from newsrec.stages.package import package as package_stage
from newsrec.stages.serve import in_service


@task(name="package")
def package() -> dict:
    """models:/newsrec-ranker@champion into the BentoML store (no Bento build)."""
    ctx = context()
    return asdict(package_stage(ctx.paths, ctx.registry, build=False, say=get_run_logger().info))


@task(name="serve", retries=1, retry_delay_seconds=5)
def serve(version: str) -> str | None:
    """The packaged version in service; the service's address."""
    ctx = context()
    return in_service(ctx.params.serve, ctx.paths, version, say=get_run_logger().info)


@task(name="reference")
def reference(version: str) -> None:
    """The served version's monitoring reference (newsrec.stages.monitor.reference_frame)."""
    ctx = context()
    prepare_reference(ctx.params, ctx.paths, ctx.registry, version, get_run_logger().info)


@flow(name="deploy")
def deploy() -> dict:
    packaged = package()
    url = serve(packaged["model_version"])
    reference(packaged["model_version"])
    return {"package": packaged, "url": url}


if __name__ == "__main__":
    entry(deploy)
