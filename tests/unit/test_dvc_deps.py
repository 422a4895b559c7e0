"""Honest DVC dependencies: every file of code that a stage's command runs is a dependency
of that stage in dvc.yaml, and no code file is listed that the stage does not run. The
code a stage runs is found by following imports (top-level and inside functions) from its
CLI handler's stage module, plus the files every command runs (the CLI, the composition
root) and the Feast declarations that the Feast adapter loads by path.

Run this file as a script to print each stage's code dependencies, or with --write to
put them into dvc.yaml (the data deps, params and outs are kept as they are).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
# every `newsrec <stage>` runs these before the stage's own module
ENTRY = ["newsrec.cli", "newsrec.bootstrap"]
# code a tool runs that no import statement shows: the Feast adapter execs the declarations
# (and the on-demand view's function runs whenever Feast builds a training set)
LOADED_BY = {"newsrec.adapters.feast": [ROOT / "feature_repo" / "feature_definitions.py"]}
CONFIG_FILES = {"newsrec.adapters.feast": [ROOT / "feature_repo" / "feature_store.yaml"]}


def module_file(name: str) -> Path | None:
    """The file of a module of this project (src/newsrec, flows, monitoring...), else None."""
    for base in (SRC, ROOT):
        p = base.joinpath(*name.split("."))
        if p.with_suffix(".py").is_file():
            return p.with_suffix(".py")
        if (p / "__init__.py").is_file():
            return p / "__init__.py"
    return None


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC if SRC in path.parents else ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_time(tree: ast.Module) -> list[ast.AST]:
    """The nodes that run when the module is imported: not function bodies, not
    `if TYPE_CHECKING:` blocks."""
    out, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo += node.orelse
            continue
        out.append(node)
        todo += list(ast.iter_child_nodes(node))
    return out


def imported(path: Path, top_only: bool = False) -> set[str]:
    """Every module an import statement in `path` names (absolute or relative) and its
    parent packages; `top_only`: only the imports that run when the module is imported."""
    names: set[str] = set()
    pkg = _package_of(path) if path.name == "__init__.py" else _package_of(path).rpartition(".")[0]
    tree = ast.parse(path.read_text())
    nodes = _import_time(tree) if top_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    out = set()
    for n in names:  # importing a.b.c runs a/__init__, a/b/__init__ too
        parts = n.split(".")
        out |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return out


def closure(modules: list[str], top_only: frozenset[str] = frozenset()) -> set[Path]:
    """The project's files that running `modules` runs, with the files they load by path.
    Modules in `top_only` count only their import-time imports (the CLI and the composition
    root import each stage and each tool lazily, for the command that needs it)."""
    seen: set[Path] = set()
    todo = [".".join(m.split(".")[:i]) for m in modules for i in range(1, m.count(".") + 2)]
    while todo:
        name = todo.pop()
        f = module_file(name)
        if f is None or f in seen:
            continue
        seen.add(f)
        seen |= set(CONFIG_FILES.get(name, []))
        for extra in LOADED_BY.get(name, []):
            if extra not in seen:
                seen.add(extra)
                todo += sorted(imported(extra))
        todo += sorted(imported(f, top_only=name in top_only))
    return seen


def stage_code(stage: str) -> set[str]:
    """The code files (relative paths) that `newsrec <stage>` runs."""
    files = closure([*ENTRY, f"newsrec.stages.{stage}"], top_only=frozenset(ENTRY))
    return {str(f.relative_to(ROOT)) for f in files}


def listed_code(deps: list[str]) -> set[str]:
    """The code files a stage's deps cover (a folder dep covers the code files in it)."""
    out = set()
    for d in deps:
        p = ROOT / d
        if p.is_dir() and ("src" in p.parts or p.name in {"feature_repo", "flows", "monitoring", "services"}):
            out |= {
                str(f.relative_to(ROOT))
                for f in p.rglob("*")
                if f.suffix in {".py", ".yaml"} and "__pycache__" not in f.parts
            }
        elif p.suffix in {".py"} or d.startswith("feature_repo/"):
            out.add(d)
    return out


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_every_stage_depends_on_exactly_the_code_it_runs():
    problems = []
    for name, st in _stages().items():
        assert st["cmd"] == f"newsrec {name}", (name, st["cmd"])  # stage name = command
        runs, listed = stage_code(name), listed_code(st.get("deps", []))
        if missing := sorted(runs - listed):
            problems.append(f"{name}: runs but does not depend on {missing}")
        if extra := sorted(listed - runs):
            problems.append(f"{name}: depends on code it does not run {extra}")
    assert not problems, "\n".join(problems)


def test_the_follower_sees_lazy_imports_and_the_feast_declarations():
    """The mutation the check exists for: trainset runs the on-demand view's code."""
    code = stage_code("trainset")
    assert "src/newsrec/features/request.py" in code  # imported only inside the Feast UDF
    assert "feature_repo/feature_definitions.py" in code
    assert "src/newsrec/adapters/mlflow.py" not in code  # trainset has no registry


def write_code_deps(dvc_yaml: Path) -> None:
    """Replace each stage's code deps in dvc.yaml by the files its command runs."""
    out, stage, in_deps = [], None, False
    for line in dvc_yaml.read_text().splitlines():
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            stage = line.strip()[:-1]
        if line.strip() == "deps:":
            in_deps = True
            out.append(line)
            continue
        if in_deps and line.startswith("      - "):
            if line[8:].split("#")[0].strip() not in listed_code([line[8:].split("#")[0].strip()]):
                out.append(line)  # a data dep
            continue
        if in_deps:
            out += [f"      - {f}" for f in sorted(stage_code(stage))]
            in_deps = False
        out.append(line)
    dvc_yaml.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_code_deps(ROOT / "dvc.yaml")
        sys.exit(0)
    for name in _stages() if len(sys.argv) < 2 else sys.argv[1:]:
        print(f"{name}:")
        for f in sorted(stage_code(name)):
            print(f"  - {f}")
