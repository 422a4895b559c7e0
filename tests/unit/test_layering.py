"""The core stays free of MLOps tools: only src/newsrec/adapters may import them."""
import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "newsrec"
TOOLS = {"mlflow", "prefect", "feast", "bentoml", "evidently", "great_expectations", "dvc"}


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
    offenders = {str(p.relative_to(SRC)): _imports(p) & TOOLS for p in SRC.rglob("*.py")
                 if "adapters" not in p.parts and _imports(p) & TOOLS}
    assert not offenders


def test_importing_the_cli_loads_no_tool():
    code = ("import sys, newsrec.cli, newsrec.config, newsrec.adapters.gx; "
            f"print(sorted(m for m in {sorted(TOOLS)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # tools load inside the functions that use them
