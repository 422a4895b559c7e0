"""The `newsrec` command: one subcommand per pipeline stage (dvc.yaml calls these) and the
operations make calls. Each handler translates arguments into one call of its stage
function (newsrec.stages.<name>.<name>) with the parts of one Context; the work lives there.

Expected failures (bad params, a refused contract, missing inputs, a gate that says no)
print one line naming the cause and exit non-zero, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from newsrec.bootstrap import Context, context
from newsrec.console import EXPECTED

Handler = Callable[[Context, argparse.Namespace], int]


def _world(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.world import world

    world(ctx.params, ctx.paths)
    return 0


def _ingest(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.ingest import ingest

    ingest(ctx.params, ctx.paths)
    return 0


def _validate(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.validate import refusal, validate

    decision = validate(ctx.params, ctx.paths)
    if not decision.ok:
        print(f"newsrec validate: error: {refusal(decision, ctx.paths)}", file=sys.stderr, flush=True)
    return 0 if decision.ok else 1


def _source(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.source import source

    source(ctx.paths, a.source, a.dir, a.params)
    return 0


def _collect(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.collect import collect

    collect(ctx.params, ctx.paths)
    return 0


def _features(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.features import features

    features(ctx.params, ctx.paths)
    return 0


def _feast(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.feast import feast

    feast(ctx.params, ctx.paths, ctx.new_online_store())
    return 0


def _trainset(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.trainset import trainset

    trainset(ctx.params, ctx.paths, ctx.feature_store)
    return 0


def _train(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.train import train

    train(ctx.params, ctx.paths, ctx.registry, ctx.feature_store, force=a.force)
    return 0


def _evaluate(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.evaluate import evaluate

    evaluate(ctx.params, ctx.paths, ctx.registry)
    return 0


def _promote(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.promote import promote

    promote(ctx.params, ctx.paths, ctx.registry, allow_rolled_back=a.allow_rolled_back)
    return 0


def _rollback(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.deploy import deploy
    from newsrec.stages.promote import rollback

    rollback(ctx.registry)
    deploy(ctx.params, ctx.paths, ctx.registry, start=False)
    return 0


def _deploy(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.deploy import deploy

    deploy(ctx.params, ctx.paths, ctx.registry)
    return 0


def _package(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.package import package

    package(ctx.paths, ctx.registry, build=not a.no_build)
    return 0


def _canvas(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.canvas import canvas

    try:
        store = ctx.feature_store
    except FileNotFoundError:  # no online store yet: the canvas says the features are not built
        store = None
    canvas(ctx.params, ctx.paths, ctx.registry, store)
    return 0


def _ablation(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.ablation import ablation

    ablation(ctx.params, ctx.paths, ctx.registry)
    return 0


def _image(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.package import image

    image(ctx.paths, ctx.registry)
    return 0


def _serve(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.serve import serve

    s = ctx.params.serve.model_copy(update={k: v for k, v in (("host", a.host), ("port", a.port)) if v})
    return serve(s, ctx.paths, a.allow_without_key)


def _traffic(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.traffic import traffic

    url = a.url or ctx.params.serve.url
    traffic(ctx.params, ctx.paths, url, a.days, a.first, a.scenario, a.shock_day, a.clients)
    return 0


def _advance(ctx: Context, a: argparse.Namespace) -> int:
    import pandas as pd

    from newsrec.stages.advance import advance

    advance(ctx.params, ctx.paths, ctx.feature_store, pd.Timestamp(a.until))
    return 0


def _monitor(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.predlog import CorruptLogError
    from newsrec.stages.monitor import monitor, monitor_days

    try:
        if a.first is None:
            monitor(ctx.params, ctx.paths, ctx.registry, a.end)
        else:
            monitor_days(ctx.params, ctx.paths, ctx.registry, a.first, a.end)
    except CorruptLogError as e:  # the decision is written; the window needs a person
        print(f"newsrec monitor: FAILED: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


def _ui(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.ui import ui

    ui(ctx.paths, a.names)
    return 0


def _up(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.up import up

    up(ctx.paths, ctx.params)
    return 0


def _down(ctx: Context, a: argparse.Namespace) -> int:
    from newsrec.stages.ui import down

    down(ctx.paths, a.names)
    return 0


def _locked(ctx: Context, a: argparse.Namespace) -> int:
    import subprocess

    from newsrec.procs import project_lock

    cmd = a.cmd_args[1:] if a.cmd_args[:1] == ["--"] else a.cmd_args
    if not cmd:
        raise ValueError("name the command to run under the lock: newsrec locked -- <command> [args]")
    with project_lock(ctx.paths.root, " ".join(cmd)):
        return subprocess.call(cmd)


def parser() -> argparse.ArgumentParser:
    """Every subcommand, its help line, its arguments and its handler."""
    ap = argparse.ArgumentParser(prog="newsrec", description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default=None, help="params file (default: ./params.yaml)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def command(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help)
        sp.set_defaults(handler=handler)
        return sp

    command("world", _world, "stage world: write the simulated world as MIND-format files")
    command("ingest", _ingest, "stage ingest: the configured source's MIND files -> canonical parquet tables")
    command("validate", _validate, "stage validate: the data contracts; exit 1 with a summary if any check fails")
    sp = command("source", _source, "point the pipeline at the simulator or at a MIND directory")
    sp.add_argument("source", choices=["sim", "mind"])
    sp.add_argument("dir", nargs="?")
    command("collect", _collect, "stage collect: the prediction log and its outcomes -> canonical tables")
    command("features", _features, "stage features: canonical tables -> point-in-time feature tables")
    command("feast", _feast, "stage feast: feast apply, then materialize into the online store")
    command("trainset", _trainset, "stage trainset: Feast point-in-time training set, split by day")
    sp = command("train", _train, "stage train: fit the click model, log it to MLflow, register it as challenger")
    sp.add_argument(
        "--force", action="store_true", help="register a new version even if this exact training is registered"
    )
    command("evaluate", _evaluate, "stage evaluate: MIND metrics of the model, baselines, oracle and champion")
    sp = command("promote", _promote, "stage promote: the gate; challenger -> champion if it wins, with a model card")
    sp.add_argument(
        "--allow-rolled-back", action="store_true", help="let the gate judge a version that was rolled back"
    )
    command("rollback", _rollback, "champion back to the previous champion, and into a running service")
    command("deploy", _deploy, "the champion into service: a running service swaps to it, else one is started")
    sp = command("package", _package, "import the champion into BentoML and build the Bento")
    sp.add_argument("--no-build", action="store_true", help="only import the model")
    command(
        "ablation",
        _ablation,
        "what each feature group and training objective earn: reports/ablation.json and .png, the model card's table",
    )
    command("canvas", _canvas, "the ML canvas, reports/canvas.md: docs/canvas.yaml's words and the project's numbers")
    command("image", _image, "package, then the service image where a Docker engine runs (else: its Dockerfile)")
    sp = command("serve", _serve, "the recommendation service on serve.host:serve.port (foreground)")
    sp.add_argument("--host", default=None, help="default: serve.host")
    sp.add_argument("--port", type=int, default=None, help="default: serve.port")
    sp.add_argument(
        "--allow-without-key",
        action="store_true",
        help="serve on a non-loopback host without NEWSREC_API_KEY (anyone who reaches it can call it)",
    )
    sp = command("traffic", _traffic, "live days: the simulated readers call the service, the store moves forward")
    sp.add_argument("--days", type=int, default=1, help="how many live days (default 1)")
    sp.add_argument(
        "--first",
        type=int,
        default=None,
        help="the first live day (0: the day after the log; default: the first one the pipeline has not trained on)",
    )
    sp.add_argument("--scenario", default="none", help="interest_shock | new_cohort | none (default)")
    sp.add_argument("--shock-day", type=int, default=0, help="the live day the scenario starts")
    sp.add_argument("--clients", type=int, default=4, help="readers asking at once")
    sp.add_argument("--url", default=None, help="default: http://serve.host:serve.port")
    sp = command("advance", _advance, "move the online store in service forward to a time (features as of then)")
    sp.add_argument("--until", required=True, help="an ISO time, e.g. 2026-11-09T01:00:00Z")
    sp = command("monitor", _monitor, "stage monitor: Evidently reports on the prediction log, then the drift gate")
    sp.add_argument(
        "--end",
        default=None,
        help="last day of the window: YYYY-MM-DD, `traffic` (the last live day served); default: today",
    )
    sp.add_argument(
        "--from",
        dest="first",
        default=None,
        help="judge every logged day from this one (YYYY-MM-DD) to --end, each as its own night's window",
    )
    sp = command("ui", _ui, "start the Prefect server, the MLflow UI and the Evidently UI on 127.0.0.1")
    sp.add_argument("names", nargs="*", help="only these of prefect, mlflow, evidently (default: all)")
    sp = command("locked", _locked, "run a command under the project lock: one pipeline run at a time")
    sp.add_argument("cmd_args", nargs=argparse.REMAINDER, help="-- the command and its arguments")
    command("up", _up, "the prod profile's servers on this machine: PostgreSQL, Redis, S3, MLflow, Prefect, Prometheus")
    sp = command("down", _down, "stop the UIs, a background service and the servers `newsrec up` started")
    sp.add_argument("names", nargs="*", help="only these of prefect, mlflow, evidently, serve, prod-* (default: all)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(context(args.params), args)
    except EXPECTED as e:
        print(f"newsrec {args.cmd}: error: {e}", file=sys.stderr, flush=True)
        return 2


def run() -> None:
    """The `newsrec` command: main(), then exit with its code. A process that used DuckDB
    (Feast's offline store) leaves without the interpreter's finalization, its exit handlers
    run and its streams flushed first: DuckDB can abort the finalization ("terminate called
    without an active exception", duckdb/duckdb#13904), and `dvc repro` then fails a stage
    whose work was done and written (exit -6 after `newsrec feast`, twice in CI, with the
    offline store's connection already closed: adapters.feast._close_offline)."""
    code = main()
    if "duckdb" in sys.modules:
        import atexit
        import logging

        atexit._run_exitfuncs()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
