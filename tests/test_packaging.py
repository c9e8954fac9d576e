"""Packaging: every package folder is in pyproject's explicit ``packages`` list, the dev
install is editable, ``import modelport`` stays light, and the built wheel installs into a
fresh virtual environment (numpy only) where every package imports and the command runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _setuptools_config() -> dict:
    return _pyproject()["tool"]["setuptools"]


def package_folders() -> dict[str, Path]:
    """Dotted package name -> folder, for every folder with an ``__init__.py`` under each
    mapped root.  A folder holding ``.py`` files but no ``__init__.py`` is reported too
    (setuptools would silently leave it out of the wheel)."""
    found: dict[str, Path] = {}
    for pkg, folder in _setuptools_config()["package-dir"].items():
        root = REPO / folder
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
            here = Path(dirpath)
            rel = here.relative_to(root)
            name = ".".join((pkg, *rel.parts))
            if any(other != pkg and name.startswith(other + ".") or name == other
                   for other in _setuptools_config()["package-dir"] if other != pkg and len(other) > len(pkg)):
                continue  # belongs to a more specific mapping
            has_py = any(f.endswith(".py") for f in filenames)
            if "__init__.py" in filenames:
                found[name] = here
            elif has_py:
                found[name + " (NO __init__.py)"] = here
    return found


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(_setuptools_config()["packages"])
    folders = package_folders()
    unlisted = sorted(set(folders) - listed)
    assert not unlisted, f"add to [tool.setuptools] packages in pyproject.toml: {unlisted}"
    gone = sorted(listed - set(folders))
    assert not gone, f"listed in pyproject.toml but no such package folder: {gone}"


def test_dev_install_is_editable():
    """``pip install -e .`` works: the dev environment's modelport is the repository itself."""
    import modelport
    import modelport.converters
    import modelport.runtimes

    assert Path(modelport.__file__).resolve().is_relative_to(REPO / "modelport")
    assert Path(modelport.converters.__file__).resolve().is_relative_to(REPO / "converters")
    assert Path(modelport.runtimes.__file__).resolve().is_relative_to(REPO / "runtimes")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)


def test_import_modelport_is_light():
    p = _python("import sys, modelport; heavy = [m for m in ('numpy', 'onnx', 'onnxruntime', 'xgboost', "
                "'modelport.converters') if m in sys.modules]; assert not heavy, heavy")
    assert p.returncode == 0, p.stderr


def test_runtimes_import_with_numpy_alone():
    p = _python("import sys, modelport.runtimes; heavy = [m for m in ('onnx', 'onnxruntime', 'xgboost', "
                "'modelport.converters', 'pandas') if m in sys.modules]; assert not heavy, heavy")
    assert p.returncode == 0, p.stderr


def _copy_source(dest: Path) -> Path:
    """The files a build reads, without build/, .venv, .git or caches."""
    src = dest / "src"
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "build", "dist", "*.egg-info", "reports",
                                    ".pytest_cache", "*.unverified")
    shutil.copytree(REPO, src, ignore=ignore)
    return src


def _numpy_only_site(dest: Path) -> Path:
    """A folder exposing numpy (and its bundled libraries) and nothing else."""
    import numpy

    site = Path(numpy.__file__).resolve().parents[1]
    only = dest / "numpy-only"
    only.mkdir()
    for entry in site.iterdir():
        if entry.name == "numpy" or entry.name.startswith(("numpy.libs", "numpy-")):
            (only / entry.name).symlink_to(entry)
    return only


@pytest.mark.packaging
def test_wheel_installs_and_imports_in_a_fresh_venv(tmp_path):
    src = _copy_source(tmp_path)
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(wheels), str(src)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("modelport-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    py = env_dir / "bin" / "python"
    inst = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                           "-q", str(wheel)], capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr[-3000:]
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "numpy-only.pth").write_text(str(_numpy_only_site(tmp_path)) + "\n")

    packages = sorted(p for p in package_folders() if "NO __init__" not in p)
    code = (
        "import importlib, pathlib, sys\n"
        f"for name in {packages!r}:\n"
        "    mod = importlib.import_module(name)\n"
        f"    assert pathlib.Path(mod.__file__).resolve().is_relative_to(pathlib.Path({str(site)!r}).resolve()), mod.__file__\n"
        "import modelport, modelport.runtimes\n"
        "assert (pathlib.Path(modelport.__file__).parent / 'py.typed').exists()\n"
        "assert 'onnxruntime' not in sys.modules\n"
        "print('ok')\n"
    )
    run = subprocess.run([str(py), "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
    cli = subprocess.run([str(env_dir / "bin" / "modelport"), "formats", "--json"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert cli.returncode == 0 and '"targets"' in cli.stdout, cli.stderr[-3000:]
