"""The rules between the rooms, enforced on the source: which part may import which.

- the core (``core/`` = ``modelport.core``) imports nothing else of modelport;
- runtimes import only the core (an embedding service never loads a converter);
- a target never imports another target (each writes through the core's contract);
- deploy imports only runtimes and the core (a serving process never loads a converter).

Imports are read with ``ast`` from every module, including those inside functions (lazy
imports count: they run too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Folder -> import prefix of the package it is mapped to (pyproject.toml package-dir).
ROOMS = {"core": "modelport.core", "runtimes": "modelport.runtimes", "converters": "modelport.converters",
         "deploy": "modelport.deploy", "benchmarks": "modelport.benchmarks", "modelport": "modelport"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    parts[0] = ROOMS[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    """Absolute module names ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _module_name(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = [f"{mod}.{a.name}" for a in node.names]
            real = [m for m in subs if _existing(m)]  # `from pkg import module` imports the module
            out += real if real and len(real) == len(subs) else [mod] + real
    return out


def _files(room: str) -> list[Path]:
    return sorted((ROOT / room).rglob("*.py"))


def _modelport_imports(path: Path) -> set[str]:
    return {m for m in _imports(path) if m == "modelport" or m.startswith("modelport.")}


def _existing(mod: str) -> bool:
    """True when ``mod`` names a module or package of ours (not a name imported from one)."""
    parts = mod.split(".")
    for folder, prefix in ROOMS.items():
        pre = prefix.split(".")
        if parts[: len(pre)] == pre:
            rest = parts[len(pre):]
            base = ROOT / folder / Path(*rest) if rest else ROOT / folder
            return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()
    return False


def _violations(room: str, allowed) -> list[str]:
    bad = []
    for path in _files(room):
        for mod in sorted(_modelport_imports(path)):
            if _existing(mod) and not allowed(mod, path):
                bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    return bad


def test_core_imports_nothing_else_of_modelport():
    assert _violations("core", lambda m, p: m.startswith("modelport.core")) == []


def test_runtimes_import_only_the_core():
    assert _violations("runtimes", lambda m, p: m.startswith(("modelport.core", "modelport.runtimes"))) == []


def test_deploy_imports_only_runtimes_and_the_core():
    ok = ("modelport.core", "modelport.runtimes", "modelport.deploy")
    assert _violations("deploy", lambda m, p: m.startswith(ok)) == []


def test_targets_never_import_each_other():
    targets = ROOT / "converters" / "targets"

    def own_family(mod: str, path: Path) -> bool:
        if not mod.startswith("modelport.converters.targets."):
            return True  # the core, the registry module itself, runtimes for verifying
        other = mod[len("modelport.converters.targets."):].split(".")
        here = path.relative_to(targets).with_suffix("").parts
        # A target's own private helpers (_onnx_*.py beside onnx.py, a package's modules)
        # and the native family's shared lowering are its own; another target is not.
        mine = here[0].lstrip("_").split("_")[0]
        theirs = other[0].lstrip("_").split("_")[0]
        return mine == theirs

    bad = []
    for path in sorted(targets.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == targets:
            continue
        for mod in sorted(_modelport_imports(path)):
            if mod.startswith("modelport.converters.targets.") and _existing(mod) and not own_family(mod, path):
                bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert bad == []


def test_the_rule_checker_sees_lazy_imports():
    """The checker is not vacuous: imports inside functions are found, and one of them in a
    runtime would be reported."""
    mods = _modelport_imports(ROOT / "modelport" / "_api.py")
    assert "modelport.converters.frontends" in mods  # imported lazily inside load()
    assert not (lambda m, p: m.startswith(("modelport.core", "modelport.runtimes")))("modelport.converters.frontends", None)


@pytest.mark.parametrize("room", ["core", "runtimes"])
def test_rooms_have_modules(room):
    assert _files(room), f"{room}/ has no modules"
