"""``model.tar.gz``: the archive SageMaker extracts into ``/opt/ml/model``.

Layout (nothing else is ever written)::

    modelport-package.json     the package manifest (below)
    <artifact name>            the artifact: one file, or a bundle directory with its files

The manifest records the package schema version, the artifact's name and kind (``file`` or
``bundle``), the runtime that serves it, its signature (features, task, objective, outputs),
the modelport version that packaged it and the SHA-256 of every artifact file.

:func:`extract` is the serving side: it refuses anything but regular files and directories
(no symbolic or hard links, devices or FIFOs), absolute names, ``..`` components, more than
:data:`MAX_MEMBERS` members or more than ``max_bytes`` of content, then checks every file
against the manifest (same set of files, same checksums).  Only the core and the runtimes
are imported: packaging and serving never load a converter.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from modelport.core.contract import MANIFEST_NAME, check_listed_files, is_bundle, read_versioned_json, sha256_file
from modelport.core.errors import ModelFormatError, ModelportError
from modelport.core.version import __version__

__all__ = ["PACKAGE_MANIFEST", "PACKAGE_VERSION", "MAX_MEMBERS", "MAX_BYTES", "Package", "package", "extract",
           "read_package", "signature_dict", "artifact_path"]

#: Name of the manifest at the top of every package.
PACKAGE_MANIFEST = "modelport-package.json"
#: Package schema version; a reader refuses any other.
PACKAGE_VERSION = 1
#: Most archive members :func:`extract` accepts (a bundle holds a handful of files).
MAX_MEMBERS = 10_000
#: Default bound on the extracted bytes (4 GiB; a model artifact, not a data set).
MAX_BYTES = 4 << 30
_MAX_MANIFEST_BYTES = 16 << 20


@dataclass(frozen=True)
class Package:
    """A package manifest as read back."""

    artifact: str
    """The artifact's name inside the package directory."""
    kind: str
    """``"file"`` or ``"bundle"``."""
    runtime: str
    """The runtime registry name that serves it."""
    signature: dict[str, Any]
    """See :func:`signature_dict`."""
    modelport_version: str
    """Version of modelport that wrote the package."""
    files: dict[str, str]
    """Archive path -> hex SHA-256 of every artifact file."""


def signature_dict(sig: Any) -> dict[str, Any]:
    """A runtime signature as JSON-ready data (what the package manifest stores)."""
    return {
        "input_type": sig.input_type,
        "features": [{"name": f.name, "type": f.type, **({"categories": list(f.categories)} if f.categories else {})}
                     for f in sig.features],
        "task": sig.task,
        "objective": sig.objective,
        "post_transform": sig.post_transform,
        "n_outputs": sig.n_outputs,
        "n_classes": sig.n_classes,
        "outputs": list(sig.outputs),
        "prediction": sig.prediction,
    }


def _artifact_files(src: Path) -> dict[str, Path]:
    """Archive name -> source path of every file of the artifact."""
    if src.is_symlink():
        raise ModelportError(f"{src.name}: is a symbolic link; package the file it points to")
    if src.is_file():
        return {src.name: src}
    if not is_bundle(src):
        raise ModelportError(f"{src}: neither an artifact file nor a bundle directory (no {MANIFEST_NAME})")
    out: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink() or not full.is_file():
                raise ModelportError(f"{src.name}: bundles hold regular files only, {name!r} is not one")
            out[PurePosixPath(src.name, full.relative_to(src).as_posix()).as_posix()] = full
    return out


def package(artifact: str | os.PathLike[str], out: str | os.PathLike[str], *, check: bool = True) -> dict[str, Any]:
    """Write ``out`` (a ``.tar.gz``) holding ``artifact`` and its package manifest; return the
    manifest.  With ``check`` (default) the artifact is loaded by its runtime first: a package
    that the server could not load is never written."""
    from modelport import runtimes

    src = Path(artifact)
    if not src.exists():
        raise ModelportError(f"{src}: no such file or directory")
    if src.name in ("", ".", "..") or src.name == PACKAGE_MANIFEST:
        raise ModelportError(f"{src}: cannot package an artifact named {src.name!r}")
    spec = runtimes.detect_runtime(src)
    sig = runtimes.load(src, runtime=spec.name).signature if check else None
    files = _artifact_files(src)
    manifest = {
        "modelport_package": PACKAGE_VERSION,
        "artifact": src.name,
        "kind": "bundle" if src.is_dir() else "file",
        "runtime": spec.name,
        "runtime_extra": spec.extra,
        "signature": signature_dict(sig) if sig is not None else None,
        "modelport_version": __version__,
        "files": {name: sha256_file(path) for name, path in files.items()},
    }
    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    data = json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n"
    try:
        # Fixed mtimes, owners and modes: the same artifact gives the same bytes.
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_info(PACKAGE_MANIFEST, len(data)), io.BytesIO(data))
            if src.is_dir():
                dirs = sorted({str(PurePosixPath(n).parent) for n in files} | {src.name})
                for d in dirs:
                    info = _info(d, 0)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            for name, path in files.items():
                with open(path, "rb") as fh:
                    tar.addfile(_info(name, path.stat().st_size), fh)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = size, 0, 0o644, 0, 0, "", ""
    return info


def _member_path(name: str, where: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if not name or p.is_absolute() or name.startswith("\\") or any(part in ("..", "") for part in name.split("/")[:-1]) \
            or ".." in p.parts or "\x00" in name or any(ord(c) < 32 for c in name):
        raise ModelFormatError(f"{where}: archive member {name!r} has an unsafe path")
    return p


def extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> Package:
    """Extract a package safely into the directory ``dest`` (created; must be empty) and return
    its verified manifest.  Any unsafe member is a one-line ModelFormatError."""
    archive, dest = Path(archive), Path(dest)
    where = archive.name
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ModelportError(f"{dest}: extraction directory is not empty")
    total = 0
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise ModelFormatError(f"{where}: more than {MAX_MEMBERS} archive members")
                rel = _member_path(member.name.rstrip("/") if member.isdir() else member.name, where)
                target = dest.joinpath(*rel.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isreg():
                    raise ModelFormatError(f"{where}: archive member {member.name!r} is not a regular file (links, "
                                           "devices and FIFOs are refused)")
                total += member.size
                if total > max_bytes:
                    raise ModelFormatError(f"{where}: extracted content exceeds {max_bytes} bytes")
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists() or target.is_symlink():
                    raise ModelFormatError(f"{where}: archive member {member.name!r} appears twice")
                fh = tar.extractfile(member)
                assert fh is not None  # noqa: S101 - isreg() members always have data
                with fh, open(target, "xb") as out:
                    left = member.size
                    while left > 0:
                        block = fh.read(min(left, 1 << 20))
                        if not block:
                            raise ModelFormatError(f"{where}: archive member {member.name!r} is truncated")
                        out.write(block)
                        left -= len(block)
                os.chmod(target, 0o644)
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename == str(archive):
            raise ModelportError(f"{archive}: no such file") from None
        raise ModelFormatError(f"{where}: not a readable .tar.gz package ({type(exc).__name__}: {exc})") from None
    return read_package(dest)


def read_package(model_dir: str | os.PathLike[str]) -> Package:
    """Read and verify the manifest of an extracted package directory (every file present,
    none unlisted, every checksum equal)."""
    root = Path(model_dir)
    where = str(root)
    doc = read_versioned_json(root / PACKAGE_MANIFEST, version_key="modelport_package", version=PACKAGE_VERSION,
                              where=where, missing=f"no {PACKAGE_MANIFEST} (not a directory written by 'modelport package')",
                              kind="modelport package manifest", max_bytes=_MAX_MANIFEST_BYTES)
    try:
        pkg = Package(artifact=str(doc["artifact"]), kind=str(doc["kind"]), runtime=str(doc["runtime"]),
                      signature=doc.get("signature") or {}, modelport_version=str(doc["modelport_version"]),
                      files={str(k): str(v) for k, v in doc["files"].items()})
    except (KeyError, AttributeError, TypeError) as exc:
        raise ModelFormatError(f"{where}: malformed {PACKAGE_MANIFEST} ({type(exc).__name__}: {exc})") from None
    if pkg.kind not in ("file", "bundle") or "/" in pkg.artifact or pkg.artifact in ("", ".", ".."):
        raise ModelFormatError(f"{where}: malformed {PACKAGE_MANIFEST} (artifact {pkg.artifact!r}, kind {pkg.kind!r})")
    for rel in pkg.files:
        if rel.split("/")[0] != pkg.artifact:
            raise ModelFormatError(f"{where}: {rel!r} is outside the artifact {pkg.artifact!r}")
    check_listed_files(root, pkg.files, manifest=PACKAGE_MANIFEST, where=where, what="package")
    return pkg


def artifact_path(model_dir: str | os.PathLike[str], pkg: Package) -> Path:
    """Where the package's artifact lies inside the extracted directory."""
    return Path(model_dir) / pkg.artifact
