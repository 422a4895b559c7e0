"""Prefect flow `deploy`: the serving deploy step. Package the champion (import it into the
BentoML store) and restart the background service on it, then wait until it is ready."""
from __future__ import annotations

import subprocess

from prefect import flow, get_run_logger, task

from newsrec import procs
from newsrec.config import Paths, load_params


@task(name="package")
def package() -> str:
    """`newsrec package --no-build`: models:/newsrec-ranker@champion into the BentoML store."""
    res = subprocess.run([procs.tool("newsrec"), "package", "--no-build"], cwd=Paths().root, capture_output=True, text=True)
    get_run_logger().info(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "")
    if res.returncode != 0:
        raise RuntimeError(f"package failed: {res.stderr[-2000:]}")
    return res.stderr


@task(name="restart", retries=1, retry_delay_seconds=5)
def restart() -> str:
    """Stop the running service (if any) and start it again on the new model."""
    p, root = load_params(), Paths().root
    procs.stop(root, "serve")
    procs.start(root, "serve", [procs.tool("bentoml"), "serve", "services.recommender:Recommender",
                                "--host", p.serve.host, "--port", str(p.serve.port)])
    url = f"http://{p.serve.host}:{p.serve.port}"
    procs.wait_http(f"{url}/readyz", 180, "the recommendation service", procs.log_file(root, "serve"))
    get_run_logger().info(f"serving the champion at {url} (log {procs.log_file(root, 'serve')})")
    return url


@flow(name="deploy")
def deploy() -> str:
    package()
    return restart()


if __name__ == "__main__":
    deploy()
