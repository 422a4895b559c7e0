"""The `newsrec` command: one subcommand per pipeline stage (dvc.yaml calls these) plus
helpers for make. Handlers do I/O only; the work lives in the core modules."""
from __future__ import annotations

import argparse
import importlib
import sys

from newsrec.config import ConfigError

# subcommand -> "module:function" under newsrec.stages; imported only when run
COMMANDS = {
    "world": "data:world", "ingest": "data:ingest", "validate": "data:validate",
    "use-source": "data:use_source", "features": "features:features", "feast": "features:feast",
    "trainset": "training:trainset", "train": "training:train", "evaluate": "evaluation:evaluate",
    "promote": "evaluation:promote", "rollback": "evaluation:rollback", "package": "serving:package",
    "traffic": "serving:traffic", "monitor": "monitoring.run:monitor", "ui": "ops:ui", "down": "ops:down",  # a dotted module is imported as is (the monitoring/ package)
}

HELP = {
    "world": "stage world: write the simulated world as MIND-format files",
    "ingest": "stage ingest: the configured source's MIND files -> canonical parquet tables",
    "validate": "stage validate: the data contracts; exit 1 with a summary if any check fails",
    "use-source": "point the pipeline at the simulator or at a MIND directory",
    "features": "stage features: canonical tables -> point-in-time feature tables",
    "feast": "stage feast: feast apply, then materialize into the online store",
    "trainset": "stage trainset: Feast point-in-time training set, split by day",
    "train": "stage train: fit the click model, log it to MLflow, register it as challenger",
    "evaluate": "stage evaluate: MIND metrics of the model, baselines, oracle and champion",
    "promote": "stage promote: the gate; challenger -> champion if it wins, with a model card",
    "rollback": "move the champion alias back to the previous champion",
    "package": "import the champion into BentoML and build the Bento",
    "ui": "start the Prefect server, the MLflow UI and the Evidently UI on 127.0.0.1",
    "down": "stop the UIs and a background service",
    "traffic": "replay labeled impressions of the last day against the service; record the clicks",
    "monitor": "Evidently drift and performance reports on the prediction log, then the drift gate",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="newsrec", description=__doc__)
    ap.add_argument("--params", default=None, help="params file (default: ./params.yaml)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in COMMANDS:
        sp = sub.add_parser(name, help=HELP[name])
        if name == "package":
            sp.add_argument("--no-build", action="store_true", help="only import the model")
        if name == "down":
            sp.add_argument("names", nargs="*", help="only these of prefect, mlflow, evidently, serve (default: all)")
        if name == "train":
            sp.add_argument("--force", action="store_true",
                            help="register a new version even if this exact training is registered")
        if name == "traffic":
            sp.add_argument("--requests", type=int, default=500, help="how many impressions to replay")
            sp.add_argument("--url", default=None, help="default: http://serve.host:serve.port")
            sp.add_argument("--seed", type=int, default=0)
        if name == "monitor":
            sp.add_argument("--end", default=None, help="last day of the window: YYYY-MM-DD, `traffic` (the last replay's day); default: today")
        if name == "use-source":
            sp.add_argument("source", choices=["sim", "mind"])
            sp.add_argument("dir", nargs="?")
    args = ap.parse_args(argv)
    module, fn = COMMANDS[args.cmd].split(":")
    handler = getattr(importlib.import_module(module if "." in module else f"newsrec.stages.{module}"), fn)
    try:
        return handler(args)
    except (ConfigError, FileNotFoundError, ValueError) as e:  # CorruptLogError is a ValueError
        print(f"newsrec {args.cmd}: error: {e}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
