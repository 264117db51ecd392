"""The shape of src/: no import cycle between modules, no class over 300 lines, no function with more than 8
parameters (besides self/cls). Read from the source with `ast` (nothing is imported). Each exception is named
in an allow-list below with its reason; an entry that no longer applies fails too, so the list stays honest."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "ossr_images"
MAX_CLASS_LINES = 300
MAX_PARAMETERS = 8

# module -> why its import cycle is tolerated for now
CYCLES_ALLOWED: dict[str, str] = {}
# "module:Class" -> why it is longer than MAX_CLASS_LINES
LONG_CLASSES_ALLOWED: dict[str, str] = {}
# "module:qualified.name" -> why it takes more than MAX_PARAMETERS parameters
_CLICK = "a click command receives one parameter per command-line option"
LONG_SIGNATURES_ALLOWED: dict[str, str] = {
    "ossr_images.cli.fetch_cmd:fetch": _CLICK,
    "ossr_images.cli.publish_cmd:publish": _CLICK,
    "ossr_images.cli.serve_cmd:serve": _CLICK,
    "ossr_images.cli.reproduce_cmd:reproduce": _CLICK,
    "ossr_images.cli.build_cmd:build_singularity_cmd": _CLICK,
    "ossr_images.cli.build_cmd:_dockerfile_command.command": _CLICK,
    "ossr_images.images.docker_engine:DockerEngine.build": "docker build's options as keywords",
    "ossr_images.metadata.build_record:describe_external_build": "one keyword per field of the build section",
    "ossr_images.workflows.validate:run_validate": "mirrors the validate command's options",
    "ossr_images.metadata.image_record:build_image_record": "one keyword per field of the image record schema",
    "ossr_images.metadata.image_record:image_record_from": "the image record's inputs from several sources",
    "ossr_images.images.export:_export": "the export's inputs passed down one by one",
    "ossr_images.images.export:_finish": "the export's outputs passed down one by one",
    "ossr_images.standin.server:LocalZenodo.__init__": "the stand-in's settings as keywords (tests set each)",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project's modules that `name` imports, anywhere in the file (a function-level import counts)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            if target in modules:
                found.add(target)
                break
    found.discard(name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _definitions():
    """(module, qualified name, node) for every class and function of src/."""

    def walk(module: str, prefix: str, body: list[ast.stmt]):
        for node in body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                qualified = f"{prefix}{node.name}"
                yield module, qualified, node
                yield from walk(module, f"{qualified}.", node.body)
            elif isinstance(node, ast.If | ast.Try | ast.With):
                yield from walk(
                    module, prefix, [n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)]
                )

    for name, path in _modules().items():
        yield from walk(name, "", ast.parse(path.read_text(encoding="utf-8")).body)


def _parameters(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = fn.args
    names = [*a.posonlyargs, *a.args, *a.kwonlyargs]
    count = len(names) + (a.vararg is not None) + (a.kwarg is not None)
    if names and names[0].arg in ("self", "cls"):
        count -= 1
    return count


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    cycles = _cycles(graph)
    bad = [c for c in cycles if not all(m in CYCLES_ALLOWED for m in c)]
    assert not bad, f"import cycles between modules of src/: {bad}"
    in_cycles = {m for c in cycles for m in c}
    stale = sorted(set(CYCLES_ALLOWED) - in_cycles)
    assert not stale, f"no longer in a cycle: remove from CYCLES_ALLOWED: {stale}"


def test_no_class_over_300_lines() -> None:
    long = {
        f"{module}:{qualified}": node.end_lineno - node.lineno + 1
        for module, qualified, node in _definitions()
        if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES
    }
    bad = {k: v for k, v in long.items() if k not in LONG_CLASSES_ALLOWED}
    assert not bad, f"classes over {MAX_CLASS_LINES} lines: {bad}"
    stale = sorted(set(LONG_CLASSES_ALLOWED) - set(long))
    assert not stale, f"no longer over {MAX_CLASS_LINES} lines: remove from LONG_CLASSES_ALLOWED: {stale}"


def test_no_function_over_8_parameters() -> None:
    long = {
        f"{module}:{qualified}": _parameters(node)
        for module, qualified, node in _definitions()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _parameters(node) > MAX_PARAMETERS
    }
    bad = {k: v for k, v in long.items() if k not in LONG_SIGNATURES_ALLOWED}
    assert not bad, f"functions with more than {MAX_PARAMETERS} parameters: {bad}"
    stale = sorted(set(LONG_SIGNATURES_ALLOWED) - set(long))
    assert not stale, (
        f"no longer over {MAX_PARAMETERS} parameters: remove from LONG_SIGNATURES_ALLOWED: {stale}"
    )


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
