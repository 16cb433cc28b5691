"""The package's import graph: the arrows run one way, and the core needs neither bpy nor torch.

Read from the source (``ast``) for the arrows and cycles, and checked for real by importing every
module outside ``depth3d/blender`` in a fresh Python where ``bpy`` and ``torch`` cannot be imported.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "depth3d"
# entry points that run a program when imported
SCRIPTS = {"depth3d.__main__", "depth3d.service.__main__", "depth3d.blender.batch_script"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, path: Path, node: ast.ImportFrom, modules: dict[str, Path]) -> list[str]:
    """The depth3d modules ``from … import …`` at ``node`` imports: each name that is a module, and
    the module it imports from where a name is not (a package above ``module`` is already loading)."""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[:len(package) - node.level + 1])
        base = f"{base}.{node.module}" if node.module else base
    else:
        base = node.module or ""
    names = [f"{base}.{alias.name}" for alias in node.names]
    found = [name for name in names if name in modules]
    if len(found) < len(names) and not module.startswith(base + "."):
        found.append(base)
    return found


def _imports(module: str, path: Path, top_level_only: bool) -> set[str]:
    """depth3d modules imported by ``module``: at import time only, or anywhere (lazy ones too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if top_level_only:  # module body, including its if/try blocks, but no function or class bodies
        nodes, stack = [], list(tree.body)
        while stack:
            node = stack.pop()
            nodes.append(node)
            if isinstance(node, (ast.If, ast.Try)):
                stack += [*node.body, *node.orelse, *getattr(node, "finalbody", []),
                          *(s for h in getattr(node, "handlers", []) for s in h.body)]
    else:
        nodes = list(ast.walk(tree))
    modules = _modules()
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            names = _resolve(module, path, node, modules)
        else:
            continue
        found |= {name for name in names if name in modules and name != module}
    return found


def test_no_backend_module_imports_the_service():
    backends = {m: p for m, p in _modules().items() if m.startswith("depth3d.backends")}
    assert backends
    for module, path in backends.items():
        wrong = {name for name in _imports(module, path, top_level_only=False)
                 if name.startswith("depth3d.service")}
        assert not wrong, f"{module} imports {sorted(wrong)}: the service depends on backends, not the reverse"


def test_no_import_cycle_among_package_modules():
    modules = _modules()
    graph = {m: _imports(m, p, top_level_only=True) for m, p in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert graph["depth3d.cli"], "the scan found no imports: it reads nothing"


_BLOCKED_IMPORT = """
import importlib, json, sys
from importlib.abc import MetaPathFinder

class Block(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("bpy", "torch", "bpy_extras", "mathutils"):
            raise ImportError(f"{name} is blocked")
        return None

sys.meta_path.insert(0, Block())
failed = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("bpy", "torch"))
print(json.dumps({"failed": failed, "leaked": leaked}))
"""


def test_every_core_module_imports_without_bpy_and_torch():
    names = sorted(m for m in _modules() if not m.startswith("depth3d.blender") and m not in SCRIPTS)
    assert "depth3d.backends.hf" in names and "depth3d.service.server" in names
    done = subprocess.run([sys.executable, "-c", _BLOCKED_IMPORT, json.dumps(names)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"failed": {}, "leaked": []}


def test_the_blocker_blocks():
    """The meta-path blocker really refuses: a module importing torch at the top fails under it."""
    done = subprocess.run([sys.executable, "-c", _BLOCKED_IMPORT, json.dumps(["torch.nn"])],
                          capture_output=True, text=True, timeout=600)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert "torch.nn" in answer["failed"] and "blocked" in answer["failed"]["torch.nn"]
