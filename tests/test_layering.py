"""The import layering of the packages, read from the sources (every import statement, those inside
functions too): no import circle between files, and no import that runs back up a layer.

Layers, lowest first: codebind_core (never ROS); in codebind_ros conversions/messaging/perception/
sources, then nodes, then tools (and the entry points); in codebind_core, evaluation (metrics and reports)
below training, and both below experiments (the orchestrator of the paper's runs)."""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("codebind_core", "codebind_ros", "training")
# what codebind_core must never import: the ROS package and ROS 2's Python packages
ROS_MODULES = {"codebind_ros", "rclpy", "rcl_interfaces", "rosidl_runtime_py", "launch", "launch_ros",
               "ament_index_python", "tf2_ros", "tf2_msgs", "std_msgs", "sensor_msgs", "geometry_msgs",
               "nav_msgs", "diagnostic_msgs", "visualization_msgs", "builtin_interfaces", "rosbags"}
SCRIPTS = {"training", "benchmarks", "scripts", "tests"}
# codebind_ros sub-packages by layer: a file imports only from its own layer or below
ROS_LAYERS = {"conversions": 1, "messaging": 1, "perception": 1, "sources": 1, "nodes": 2, "tools": 3,
              "entry_points": 4}
# codebind_core sub-packages by layer (among themselves; the other files are not ranked)
CORE_LAYERS = {"evaluation": 1, "training": 2, "experiments": 3}

Edge = Tuple[str, str, int]  # importer, imported module, line


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules(root: Path = ROOT, packages=PACKAGES) -> Dict[str, Path]:
    return {module_name(p, root): p for pkg in packages if (root / pkg).is_dir() for p in (root / pkg).rglob("*.py")}


def imported_names(module: str, source: str, is_package: bool = False) -> Iterator[Tuple[str, int]]:
    """Every name an import statement anywhere in ``source`` reaches: ``import a.b`` -> a.b;
    ``from a import b`` -> a.b (a module, or a name of module a); relative imports resolved."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[:len(package) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            yield from ((f"{base}.{alias.name}", node.lineno) for alias in node.names)


def _resolve(name: str, modules: Dict[str, Path]) -> str:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def import_edges(modules: Dict[str, Path]) -> List[Edge]:
    """(importer, imported file's module, line) for every import of another of ``modules``. An import
    of one's own enclosing package (its ``__init__``) is not an edge: the package imports its files."""
    edges = []
    for module, path in modules.items():
        seen = set()
        for name, line in imported_names(module, path.read_text(encoding="utf-8"), path.name == "__init__.py"):
            target = _resolve(name, modules)
            if target and target != module and not module.startswith(target + ".") and target not in seen:
                seen.add(target)
                edges.append((module, target, line))
    return edges


def circles(edges: List[Edge]) -> List[Set[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    graph: Dict[str, List[str]] = {}
    for a, b, _ in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[Set[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def _layer(module: str) -> Tuple[str, int]:
    parts = module.split(".")
    sub = parts[1] if len(parts) > 1 else ""
    if parts[0] == "codebind_ros":
        return "codebind_ros", ROS_LAYERS.get(sub, 0)
    if parts[0] == "codebind_core":
        return "codebind_core", CORE_LAYERS.get(sub, 0)
    return parts[0], 0


def upward_imports(modules: Dict[str, Path]) -> List[str]:
    """Imports that run back up a layer, as 'importer:line -> imported'."""
    bad = []
    for module, path in modules.items():
        for name, line in imported_names(module, path.read_text(encoding="utf-8"), path.name == "__init__.py"):
            top = name.split(".")[0]
            if module.startswith("codebind_core") and (top in ROS_MODULES or top in SCRIPTS):
                bad.append(f"{module}:{line} -> {name}")
                continue
            target = _resolve(name, modules)
            if not target:
                continue
            (pkg, layer), (target_pkg, target_layer) = _layer(module), _layer(target)
            if pkg == target_pkg and pkg != "training" and target_layer > layer and (pkg != "codebind_core" or layer):
                bad.append(f"{module}:{line} -> {target}")
    return sorted(set(bad))


def test_no_import_circle_between_files():
    found = circles(import_edges(source_modules()))
    assert not found, "import circles: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def test_no_import_runs_up_a_layer():
    bad = upward_imports(source_modules())
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def _tree(tmp_path: Path, files: Dict[str, str]) -> Dict[str, Path]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return source_modules(tmp_path)


def test_a_circle_through_an_import_inside_a_function_is_found(tmp_path):
    modules = _tree(tmp_path, {
        "codebind_ros/__init__.py": "",
        "codebind_ros/messaging/__init__.py": "",
        "codebind_ros/messaging/a.py": "from codebind_ros.messaging.b import B\n",
        "codebind_ros/messaging/b.py": "def f():\n    from . import a\n",
        "codebind_ros/messaging/c.py": "from .b import f\n",
    })
    assert circles(import_edges(modules)) == [{"codebind_ros.messaging.a", "codebind_ros.messaging.b"}]
    assert upward_imports(modules) == []


def test_upward_imports_are_found(tmp_path):
    modules = _tree(tmp_path, {
        "codebind_core/__init__.py": "",
        "codebind_core/model.py": "def f():\n    import rclpy\n",
        "codebind_core/evaluation/__init__.py": "",
        "codebind_core/evaluation/report.py": "from ..training import loop\n",
        "codebind_core/training/__init__.py": "",
        "codebind_core/training/loop.py": "from codebind_core.evaluation import report\n",
        "codebind_ros/__init__.py": "",
        "codebind_ros/nodes/__init__.py": "",
        "codebind_ros/nodes/player.py": "from codebind_ros.tools.scene import Scene\nfrom ..messaging import qos\n",
        "codebind_ros/tools/__init__.py": "",
        "codebind_ros/tools/scene.py": "from codebind_ros.nodes import player\n",
        "codebind_ros/messaging/__init__.py": "",
        "codebind_ros/messaging/qos.py": "",
    })
    assert upward_imports(modules) == [
        "codebind_core.evaluation.report:1 -> codebind_core.training.loop",
        "codebind_core.model:2 -> rclpy",
        "codebind_ros.nodes.player:1 -> codebind_ros.tools.scene",
    ]


if __name__ == "__main__":  # print the graph's circles and upward imports of this checkout
    mods = source_modules()
    print("\n".join(" <-> ".join(sorted(c)) for c in circles(import_edges(mods))))
    print("\n".join(upward_imports(mods)))
    sys.exit(0)
