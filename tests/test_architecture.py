"""The package's import structure, read from the source (every import, also those inside
functions): the layers import one way (widgets -> systems -> core, each system on its own),
no module imports itself through others (no import cycle), and no module reaches into
another's private names (what modules share is public under a name that says what it does).
On the front end, no JS function is longer than 80 lines."""
from __future__ import annotations

import ast
import subprocess
from pathlib import Path


PACKAGE = Path(__file__).resolve().parent.parent / "xai_widgets"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if "static" not in p.parts}


def imports(name: str, path: Path, known: dict[str, Path]):
    """(imported module, imported names) for every import of a package module in ``path``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source not in known:
                continue
            names = [a.name for a in node.names]
            submodules = [n for n in names if f"{source}.{n}" in known]
            for n in submodules:  # ``from . import lrp``: the module lrp
                yield f"{source}.{n}", []
            if len(submodules) < len(names):
                yield source, [n for n in names if n not in submodules]


def graph() -> dict[str, dict[str, list[str]]]:
    known = modules()
    edges: dict[str, dict[str, list[str]]] = {}
    for name, path in known.items():
        for target, names in imports(name, path, known):
            edges.setdefault(name, {}).setdefault(target, []).extend(names)
    return edges


def cycles(edges: dict[str, dict]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself
    (Tarjan 1972)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges.get(v, {}):
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def test_the_reader_sees_every_import():
    """The scan finds the imports it must (so the checks below can fail)."""
    edges = graph()
    assert "xai_widgets.core.capture" in edges["xai_widgets.attribution.methods"]
    assert "xai_widgets.similarity.maps" in edges["xai_widgets.widgets.similarity"]
    assert cycles({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a": []}}) == [["a"]]


SYSTEMS = ("similarity", "units", "attribution", "morph", "concepts", "inversion", "adversarial", "bias",
           "decoder")


def layer_of(module: str) -> str:
    """core, one of SYSTEMS, widgets, demo, or the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "root"


def may_import(source: str, target: str) -> bool:
    """The layering: core imports only core; a system the core and itself; widgets the
    systems and the core; the demo (models and data, trained with the systems) anything but
    widgets; the package root gathers everything."""
    a, b = layer_of(source), layer_of(target)
    if a == "root":
        return True
    if a == "core":
        return b == "core"
    if a in SYSTEMS:
        return b in ("core", a)
    if a == "widgets":
        return b in ("core", "widgets", *SYSTEMS)
    return a == "demo" and b != "widgets"


def test_the_layers_import_one_way():
    assert may_import("xai_widgets.widgets.similarity", "xai_widgets.similarity.maps")
    assert not may_import("xai_widgets.core.render", "xai_widgets.similarity.maps")
    assert not may_import("xai_widgets.units.featurevis", "xai_widgets.similarity.transforms")
    wrong = sorted(f"{v} imports {w}" for v, ws in graph().items() for w in ws if not may_import(v, w))
    assert wrong == []


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_no_module_imports_another_modules_private_names():
    private = sorted(f"{v} imports {n} from {w}" for v, ws in graph().items() for w, names in ws.items()
                     for n in names if n.startswith("_") and not n.startswith("__"))
    assert private == []


def test_no_front_end_function_is_longer_than_80_lines():
    script = PACKAGE.parent / "js" / "tools" / "long_functions.mjs"
    listing = subprocess.run(["node", str(script), "80"], capture_output=True, text=True, check=True).stdout
    assert listing == "", f"front-end functions over 80 lines (file:line name length):\n{listing}"


def test_test_files_have_unique_names():
    """pytest imports test files by base name (no __init__.py): two files of one name abort the run."""
    tests = Path(__file__).parent
    names = [p.name for p in tests.rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
