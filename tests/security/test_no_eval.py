"""No eval or exec of anything read from a file, a template or a server: a static check of src/.

The source is parsed (not grepped) so that comments and strings do not count: any call of eval/exec/compile,
pickle/marshal/shelve loading, yaml.load without a safe loader, os.system, or subprocess with shell=True is
refused. Two tiny fixtures prove the checker itself finds what it must.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ossr_images

SRC = Path(ossr_images.__file__).resolve().parent

BANNED_NAMES = {"eval", "exec", "compile", "__import__", "execfile"}
BANNED_ATTRS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("pickle", "Unpickler"),
    ("cPickle", "load"),
    ("cPickle", "loads"),
    ("marshal", "load"),
    ("marshal", "loads"),
    ("shelve", "open"),
    ("dill", "load"),
    ("dill", "loads"),
    ("yaml", "unsafe_load"),
    ("yaml", "full_load"),
    ("os", "system"),
    ("os", "popen"),
    ("jsonpickle", "decode"),
}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def findings(source: str, filename: str = "<src>") -> list[str]:
    """Every dangerous call in one module's source, as 'file:line what'."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    imported_from: dict[str, str] = {}  # local name -> module.attr for `from pickle import loads`
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imported_from[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in {"pickle", "cPickle", "marshal", "shelve", "dill", "jsonpickle"}:
                    found.append(f"{filename}:{node.lineno} imports {alias.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = _dotted(func)
        where = f"{filename}:{node.lineno}"
        if isinstance(func, ast.Name):
            if func.id in BANNED_NAMES:
                found.append(f"{where} calls {func.id}()")
            target = imported_from.get(func.id, "")
            mod, _, attr = target.rpartition(".")
            if (mod.split(".")[-1], attr) in BANNED_ATTRS:
                found.append(f"{where} calls {target}()")
            if target in ("yaml.load", "yaml.load_all") and not _safe_yaml(node):
                found.append(f"{where} calls {target}() without a safe Loader")
        if isinstance(func, ast.Attribute):
            base = _dotted(func.value).split(".")[-1]
            if (base, func.attr) in BANNED_ATTRS:
                found.append(f"{where} calls {name}()")
            if base == "builtins" and func.attr in BANNED_NAMES:
                found.append(f"{where} calls {name}()")
            if base == "yaml" and func.attr in ("load", "load_all") and not _safe_yaml(node):
                found.append(f"{where} calls {name}() without a safe Loader")
            if base == "subprocess" and func.attr in SUBPROCESS_CALLS and _shell_true(node):
                found.append(f"{where} calls {name}(shell=True)")
            if func.attr in ("getoutput", "getstatusoutput") and base == "subprocess":
                found.append(f"{where} calls {name}() (runs a shell)")
        if name.endswith("Popen") and _shell_true(node):
            found.append(f"{where} calls {name}(shell=True)")
    return sorted(set(found))


def _safe_yaml(call: ast.Call) -> bool:
    loader = None
    for kw in call.keywords:
        if kw.arg == "Loader":
            loader = kw.value
    if loader is None and len(call.args) >= 2:
        loader = call.args[1]
    return loader is not None and _dotted(loader).split(".")[-1] in SAFE_YAML_LOADERS


def _shell_true(call: ast.Call) -> bool:
    return any(
        kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False)
        for kw in call.keywords
    )


def test_checker_finds_dangerous_calls():
    bad = (
        "import pickle, yaml, subprocess, os\n"
        "from marshal import loads\n"
        "eval(x)\nexec(y)\npickle.loads(b)\nloads(b)\nyaml.load(t)\nyaml.load(t, Loader=yaml.Loader)\n"
        "subprocess.run(c, shell=True)\nos.system(c)\n"
    )
    found = findings(bad)
    for what in (
        "eval()",
        "exec()",
        "pickle.loads()",
        "marshal.loads()",
        "yaml.load() without",
        "shell=True",
    ):
        assert any(what in f for f in found), (what, found)
    assert any("os.system" in f for f in found)
    assert any("imports pickle" in f for f in found)


def test_checker_accepts_safe_calls():
    good = (
        "import yaml, json, subprocess, re\n"
        "yaml.load(t, Loader=yaml.SafeLoader)\nyaml.safe_load(t)\njson.loads(t)\n"
        "subprocess.run(['git', 'rev-parse', 'HEAD'], check=True)\nre.compile('x')\n"
        "# eval(x) in a comment\ns = 'exec(y)'\n"
    )
    assert findings(good) == []


def test_source_tree_has_no_eval_exec_or_unsafe_loaders():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10, f"expected the package sources under {SRC}"
    problems: list[str] = []
    for path in files:
        problems += findings(path.read_text(encoding="utf-8"), str(path.relative_to(SRC.parent)))
    assert problems == [], "dangerous calls in src/:\n" + "\n".join(problems)
