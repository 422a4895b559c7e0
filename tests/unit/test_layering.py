"""The core stays free of MLOps tools: only src/newsrec/adapters may import them, and the
tool folders at the top import only their own tool (monitoring/ Evidently, flows/ Prefect,
services/ BentoML, feature_repo/ Feast); the rest they reach through the core."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "newsrec"
TOOLS = {"mlflow", "prefect", "feast", "bentoml", "evidently", "great_expectations", "dvc", "dask", "distributed"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_no_tool():
    offenders = {
        str(p.relative_to(SRC)): _imports(p) & TOOLS
        for p in SRC.rglob("*.py")
        if "adapters" not in p.parts and _imports(p) & TOOLS
    }
    assert not offenders


OWN_TOOL = {"monitoring": "evidently", "flows": "prefect", "services": "bentoml", "feature_repo": "feast"}


def test_each_tool_folder_imports_only_its_own_tool():
    offenders = {}
    for folder, own in OWN_TOOL.items():
        for p in (ROOT / folder).rglob("*.py"):
            if bad := _imports(p) & (TOOLS - {own}):
                offenders[str(p.relative_to(ROOT))] = bad
    assert not offenders
    assert all((ROOT / f).is_dir() for f in OWN_TOOL)  # a renamed folder fails here, not silently


def test_importing_the_cli_loads_no_tool():
    code = (
        "import sys, newsrec.cli, newsrec.config, newsrec.adapters.gx; "
        f"print(sorted(m for m in {sorted(TOOLS)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # tools load inside the functions that use them
