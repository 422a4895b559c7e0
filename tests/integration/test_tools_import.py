"""Every tool of the stack imports inside the locked environment, at the locked major versions."""

import importlib.util
import json
import subprocess
import sys
from importlib.metadata import version

import pytest

TOOLS = {  # module: (distribution, required version prefix)
    "mlflow": ("mlflow", "3."),
    "dvc.api": ("dvc", "3."),
    "feast": ("feast", "0."),
    "evidently": ("evidently", "0.7"),
    "prefect": ("prefect", "3."),
    "bentoml": ("bentoml", "1.4"),
    "great_expectations": ("great-expectations", "1."),
    "sklearn": ("scikit-learn", "1."),
    "skops": ("skops", "0."),
    "duckdb": ("duckdb", ""),
    "pandas": ("pandas", "2."),
}

PROBE = """
import importlib, json, sys, traceback
out = {}
for m in sys.argv[1:]:
    try:
        importlib.import_module(m); out[m] = None
    except BaseException:
        out[m] = traceback.format_exc(limit=3)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def imported():
    # one fresh interpreter imports them all: no state from the test process can help or hide
    res = subprocess.run([sys.executable, "-c", PROBE, *TOOLS], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", list(TOOLS))
def test_tool_imports(imported, module):
    dist, prefix = TOOLS[module]
    assert imported[module] is None, imported[module]
    assert version(dist).startswith(prefix), version(dist)


def test_fastapi_stays_below_the_prefect_server_break():
    major, minor = map(int, version("fastapi").split(".")[:2])
    assert (major, minor) < (0, 155)
    assert importlib.util.find_spec("prefect.server.api.server") is not None
