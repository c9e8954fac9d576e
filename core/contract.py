"""The artifact contract: what every artifact records about itself, written and read here only.

Every target writes :func:`artifact_metadata` (a flat ``str -> str`` map, ``modelport.*``
keys) into its artifact in the format's own place (ONNX ``metadata_props``, a bundle's
manifest, a PMML ``Extension``, ...); every runtime rebuilds its :class:`Signature` with
:func:`signature_from_metadata`.  Nobody else spells a metadata key.

Bundles: an artifact that is several files (generated source code, a compiled library, a
package) is a directory holding them and a manifest, ``modelport.json``, naming the format,
the runtime, the metadata and every file with its SHA-256.  :func:`write_manifest` and
:func:`read_manifest` are the only writer and reader; reading checks every checksum and
refuses paths that leave the directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelport.core.errors import ModelFormatError
from modelport.core.files import sha256_file
from modelport.core.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from modelport.core.ir.model import Model

__all__ = [
    "read_versioned_json",
    "OUTPUTS",
    "METADATA_PREFIX",
    "MANIFEST_NAME",
    "FeatureSpec",
    "Signature",
    "Manifest",
    "artifact_metadata",
    "signature_from_metadata",
    "describe_prediction",
    "is_bundle",
    "write_manifest",
    "read_manifest",
    "sha256_file",
    "check_listed_files",
]

OUTPUTS: tuple[str, ...] = ("prediction", "margin", "probabilities", "label")
#: Prefix of every metadata key modelport writes.
METADATA_PREFIX = "modelport."
#: File name of a bundle's manifest.
MANIFEST_NAME = "modelport.json"
#: Manifest schema version; bump on any change a reader must know about.
MANIFEST_VERSION = 1
_CLASSIFIER_TASKS = ("binary", "multiclass")


@dataclass(frozen=True)
class FeatureSpec:
    """One input column as the runtime sees it."""

    name: str
    """Column name; DataFrame columns and dict keys are matched against it."""
    type: str = "float"
    """``"float"``, ``"int"``, ``"indicator"`` or ``"categorical"`` (codes)."""
    categories: tuple[str, ...] | None = None
    """For categorical columns: category values in code order, when known."""


@dataclass(frozen=True)
class Signature:
    """What an artifact expects and returns."""

    input_name: str
    """Name of the artifact's input (``"input"`` for modelport's ONNX)."""
    input_type: str
    """Element type of the input, e.g. ``"float32"``."""
    features: tuple[FeatureSpec, ...]
    """The input columns, in positional order."""
    task: str
    """``"regression"``, ``"binary"``, ``"multiclass"``, ``"multi_target"``, ``"ranking"``, ``"survival"``."""
    objective: str
    """The source objective, e.g. ``"binary:logistic"`` (``""`` if unknown)."""
    post_transform: str
    """The margin → prediction function (IR ``PostTransform`` value)."""
    n_outputs: int
    """Number of margin columns."""
    n_classes: int
    """Number of classes (0 for non-classifiers)."""
    outputs: tuple[str, ...] = OUTPUTS
    """The ``output=`` values this artifact can serve."""
    prediction: str = ""
    """One line: what ``predict(X)`` returns for this model."""
    metadata: dict[str, str] = field(default_factory=dict)
    """The artifact's raw metadata (provenance, versions, reading options)."""

    @property
    def n_features(self) -> int:
        """Number of input columns."""
        return len(self.features)

    @property
    def feature_names(self) -> list[str]:
        """Column names in positional order."""
        return [f.name for f in self.features]

    @property
    def backend(self) -> str:
        """The converter that wrote the artifact (``"modelport"`` for modelport's own targets)."""
        return self.metadata.get(METADATA_PREFIX + "backend", "")


def describe_prediction(task: str, post_transform: str, n_outputs: int) -> str:
    """One line saying what ``predict(X)`` returns."""
    if task == "binary":
        what = {"sigmoid": "probability of class 1", "hinge": "0/1 class", "identity": "raw margin"}
        return f"float32 [N]: {what.get(post_transform, post_transform)}"
    if task == "multiclass":
        if post_transform == "softmax_label":
            return "float32 [N]: class index (multi:softmax)"
        return f"float32 [N, {n_outputs}]: class probabilities"
    shape = "[N]" if n_outputs == 1 else f"[N, {n_outputs}]"
    if post_transform == "isolation":
        return (f"float32 {shape}: anomaly score, IsolationForest.decision_function "
                "(negative = outlier; predict is -1 where it is < 0, else 1)")
    return f"float32 {shape}: {post_transform}(margin)"


def artifact_metadata(model: Model, *, backend: str = "modelport", extra: dict[str, str] | None = None) -> dict[str, str]:
    """The metadata every modelport artifact records (all values are strings, JSON where
    structured), prefixed with :data:`METADATA_PREFIX`.  ``extra`` adds keys (unprefixed
    names; e.g. the reading options a conversion applied)."""
    prov = model.provenance
    feats = [
        {"name": f.name, "type": f.type.value, "categories": list(f.categories) if f.categories else None}
        for f in model.features
    ]
    props = {
        "features": json.dumps(feats),
        "task": model.task.value,
        "booster": "linear" if type(model.booster).__name__ == "LinearBooster" else "tree_ensemble",
        "post_transform": model.post_transform.value,
        "n_outputs": str(int(model.n_outputs)),
        "n_classes": str(int(model.n_classes)),
        "missing": repr(float(model.missing)),
        "output_names": json.dumps(list(model.output_names)),
        "objective": prov.objective if prov else "",
        "source_format": prov.source_format if prov else "",
        "framework": prov.framework if prov else "",
        "framework_version": prov.framework_version if prov else "",
        "source_sha256": prov.sha256 if prov else "",
        "rounds": json.dumps({"kept": prov.rounds_kept, "total": prov.rounds_total, "truncation": prov.truncation})
        if prov and prov.rounds_total is not None else "",
        "modelport_version": __version__,
        "backend": backend,
    }
    props.update(extra or {})
    return {METADATA_PREFIX + k: str(v) for k, v in props.items()}


def signature_from_metadata(meta: dict[str, str], *, where: str, input_name: str = "input",
                            input_type: str = "float32", outputs: tuple[str, ...] | None = None) -> Signature:
    """The :class:`Signature` that :func:`artifact_metadata` describes.  ``where`` names the
    artifact in errors; ``outputs`` restricts the ``output=`` values (default: all that the
    task allows).  A missing or malformed key is a one-line ModelFormatError."""
    p = METADATA_PREFIX

    def get(key: str) -> str:
        try:
            return meta[p + key]
        except KeyError:
            raise ModelFormatError(f"{where}: the artifact's metadata has no {p + key!r}") from None

    try:
        feats = tuple(FeatureSpec(str(f["name"]), str(f.get("type", "float")),
                                  tuple(str(c) for c in f["categories"]) if f.get("categories") else None)
                      for f in json.loads(get("features")))
        n_outputs, n_classes = int(get("n_outputs")), int(get("n_classes"))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelFormatError(f"{where}: malformed modelport metadata ({type(exc).__name__}: {exc})") from None
    task, post = get("task"), get("post_transform")
    if outputs is None:
        outputs = OUTPUTS if task in _CLASSIFIER_TASKS else ("prediction", "margin")
    return Signature(input_name=input_name, input_type=input_type, features=feats, task=task,
                     objective=meta.get(p + "objective", ""), post_transform=post, n_outputs=n_outputs,
                     n_classes=n_classes if task in _CLASSIFIER_TASKS else 0, outputs=tuple(outputs),
                     prediction=describe_prediction(task, post, n_outputs), metadata=dict(meta))


# -- bundles ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """A bundle's manifest (``modelport.json``)."""

    format: str
    """The target that wrote the bundle, e.g. ``"c"``."""
    runtime: str
    """The runtime that executes it (a name in :mod:`modelport.runtimes`)."""
    metadata: dict[str, str]
    """:func:`artifact_metadata` of the model."""
    files: dict[str, str]
    """Relative POSIX path -> hex SHA-256 of every file in the bundle except the manifest."""
    entry: str = ""
    """The main file, when the format has one (e.g. ``"model.c"``)."""


def is_bundle(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a directory holding a manifest."""
    p = Path(path)
    return p.is_dir() and (p / MANIFEST_NAME).is_file()


def _bundle_files(root: Path, *, manifest: str = MANIFEST_NAME, where: str = "") -> list[str]:
    """Every file below ``root`` but ``manifest``, as sorted POSIX paths; a symbolic link is refused."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink():
                raise ModelFormatError(f"{where or root.name}: only regular files are allowed, {name!r} is a symbolic link")
            rel = full.relative_to(root).as_posix()
            if rel != manifest:
                out.append(rel)
    return out


def check_listed_files(root: str | os.PathLike[str], files: dict[str, str], *, manifest: str, where: str,
                       what: str) -> None:
    """The directory ``root`` holds exactly the ``files`` its ``manifest`` lists (relative
    POSIX path -> hex SHA-256), each with its checksum, and no symbolic link: a one-line
    ModelFormatError naming ``what`` (``"bundle"``, ``"package"``) otherwise."""
    root = Path(root)
    present = set(_bundle_files(root, manifest=manifest, where=where))
    if present != set(files):
        extra, missing = sorted(present - set(files)), sorted(set(files) - present)
        raise ModelFormatError(f"{where}: {what} files do not match its manifest (missing: {missing[:5]}, unlisted: {extra[:5]})")
    for rel, digest in files.items():
        if sha256_file(root / rel) != digest:
            raise ModelFormatError(f"{where}: {rel} does not match its checksum in {manifest} (modified after writing?)")


def write_manifest(bundle_dir: str | os.PathLike[str], *, format: str, runtime: str, metadata: dict[str, str],  # noqa: A002
                   entry: str = "") -> Manifest:
    """Write ``modelport.json`` into ``bundle_dir`` listing every file already in it with its
    checksum; call it last, after the target has written all of its files."""
    root = Path(bundle_dir)
    files = {rel: sha256_file(root / rel) for rel in _bundle_files(root)}
    if entry and entry not in files:
        raise ModelFormatError(f"bundle entry {entry!r} is not among the written files")
    man = Manifest(format=format, runtime=runtime, metadata=dict(metadata), files=files, entry=entry)
    doc = {"modelport_bundle": MANIFEST_VERSION, "format": format, "runtime": runtime, "entry": entry,
           "metadata": man.metadata, "files": files}
    (root / MANIFEST_NAME).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return man


#: Largest manifest read (a manifest lists files and metadata; anything bigger is not one).
MAX_MANIFEST_BYTES = 16 << 20


def read_versioned_json(path: Path, *, version_key: str, version: int, where: str, missing: str,
                        kind: str, max_bytes: int = MAX_MANIFEST_BYTES) -> dict:
    """Read a manifest-like JSON object (a bundle's or a SageMaker package's): at most
    ``max_bytes``, a JSON object whose ``version_key`` equals ``version``.  Every failure is a
    one-line :class:`ModelFormatError` starting with ``where``; ``missing`` is the message for
    an absent file and ``kind`` names the document ("modelport bundle manifest")."""
    try:
        if path.stat().st_size > max_bytes:
            raise ModelFormatError(f"{where}: {path.name} is larger than {max_bytes} bytes")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFormatError(f"{where}: {missing}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFormatError(f"{where}: unreadable {path.name} ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get(version_key) != version:
        raise ModelFormatError(f"{where}: {path.name} is not a {kind} of version {version}")
    return doc


def read_manifest(bundle_dir: str | os.PathLike[str], *, check: bool = True) -> Manifest:
    """Read and (with ``check``) verify a bundle's manifest: every listed file exists inside
    the directory with its recorded checksum, and no unlisted file is present."""
    root = Path(bundle_dir)
    where = root.name
    doc = read_versioned_json(root / MANIFEST_NAME, version_key="modelport_bundle", version=MANIFEST_VERSION,
                              where=where, missing=f"not a bundle (no {MANIFEST_NAME})",
                              kind="modelport bundle manifest")
    try:
        files = {str(k): str(v) for k, v in doc["files"].items()}
        meta = {str(k): str(v) for k, v in doc["metadata"].items()}
        man = Manifest(format=str(doc["format"]), runtime=str(doc["runtime"]), metadata=meta, files=files,
                       entry=str(doc.get("entry", "")))
    except (KeyError, AttributeError, TypeError) as exc:
        raise ModelFormatError(f"{where}: malformed {MANIFEST_NAME} ({type(exc).__name__}: {exc})") from None
    for rel in files:
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or not parts:
            raise ModelFormatError(f"{where}: manifest path {rel!r} leaves the bundle")
    if check:
        check_listed_files(root, files, manifest=MANIFEST_NAME, where=where, what="bundle")
    return man
