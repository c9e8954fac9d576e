"""Every 'pip install modelport[EXTRA]' that a MissingDependencyError recommends must be true:
the extra exists and (through the extras it includes) installs a distribution providing the
module.  Found by reading every ``require(module, extra=...)`` call in the source."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("modelport", "core", "converters", "runtimes", "deploy", "benchmarks") for p in (ROOT / d).rglob("*.py")]


def _require_calls() -> list[tuple[str, str, str]]:
    calls = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require":
                module = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
                extra = next((k.value.value for k in node.keywords if k.arg == "extra"), None)
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", module, extra))
    return calls


def _extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _distributions(extra: str, extras: dict[str, list[str]], seen: set[str] | None = None) -> set[str]:
    """Distribution names an extra installs, following modelport[...] self-references."""
    seen = seen if seen is not None else set()
    if extra in seen:
        return set()
    seen.add(extra)
    out = set()
    for req in extras[extra]:
        name = re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].lower()
        if name == "modelport":
            for inner in re.search(r"\[(.*)\]", req).group(1).split(","):
                out |= _distributions(inner.strip(), extras, seen)
        else:
            out.add(name.replace("_", "-"))
    return out


CALLS = _require_calls()


def test_the_scan_finds_the_calls():
    assert len(CALLS) >= 5, CALLS


@pytest.mark.parametrize("where,module,extra", CALLS, ids=[c[0] for c in CALLS])
def test_require_names_an_extra_that_installs_the_module(where, module, extra):
    extras = _extras()
    assert module and extra, f"{where}: require() needs a literal module and extra="
    assert extra in extras, f"{where}: extra {extra!r} does not exist in pyproject.toml"
    providers = {d.lower().replace("_", "-") for d in md.packages_distributions().get(module.split(".")[0], [])}
    assert providers, f"{where}: {module!r} is not installed in the dev environment; cannot check"
    assert providers & _distributions(extra, extras), (
        f"{where}: pip install 'modelport[{extra}]' installs {sorted(_distributions(extra, extras))}, "
        f"none of which provides {module!r} (provided by {sorted(providers)})")


def test_install_hints_name_user_extras_and_every_extra_has_code():
    """An install hint names the extra that carries the module for users, never the test
    suite's `dev`; and every user-facing extra is one some code asks for (or a bundle of
    them): an extra with no code behind it goes."""
    extras = _extras()
    named = {extra for _where, _module, extra in CALLS}
    assert "dev" not in named, [w for w, _m, e in CALLS if e == "dev"]
    # Named by a require() call, included by one that is, or imported with its own message.
    other_uses = {"bench": "modelport/_report.py", "serve": "deploy/sagemaker/serve.py"}
    for extra in extras:
        if extra in ("all", "dev", "anchors") or extra in named:
            continue
        included = any("modelport[" in r and extra in r.split("[", 1)[1] for e in named for r in extras.get(e, []))
        assert included or extra in other_uses, f"extra {extra!r} has no code asking for it"
        if extra in other_uses:
            assert f"modelport[{extra}]" in (ROOT / other_uses[extra]).read_text() or extra == "serve"
