"""SageMaker built-in XGBoost: the ``model.tar.gz`` its training jobs write.

The archive holds one member, ``xgboost-model`` (sagemaker-xgboost-container,
``src/sagemaker_xgboost_container/algorithm_mode/train.py`` saves it with ``save_model`` in the
container's default format, or with ``pickle`` in script mode/old versions).  We read only
that member, refuse links, absolute or ``..`` names, and anything larger than
:data:`MAX_MEMBER_BYTES`; the archive is never extracted to disk.

Member contents:

* XGBoost JSON or UBJSON → parsed by the XGBoost frontend (no xgboost import);
* XGBoost's legacy binary format (``binf`` header or a raw ``LearnerModelParam``) → refused,
  with the command that re-saves it as JSON;
* a pickle → refused unless ``LoadOptions(trust_pickle=True)``: then unpickled (needs
  xgboost, runs arbitrary code from the file) and its ``save_raw("json")`` read.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
import tarfile
import zlib
from pathlib import Path

from modelport.converters.frontends import FRONTENDS, Frontend, LoadOptions
from modelport.converters.frontends.xgboost import model_from_document, parse_document
from modelport.core.ir.model import Model
from modelport.core.errors import ModelFormatError, UnsupportedModelError, require

__all__ = ["load_sagemaker_xgboost", "MEMBER_NAME", "MAX_MEMBER_BYTES"]

#: The member SageMaker's XGBoost writes.
MEMBER_NAME = "xgboost-model"
#: Largest member we read (a corrupt or hostile header must not exhaust memory).
MAX_MEMBER_BYTES = 2 << 30
#: Largest number of members we list before giving up (tar bombs of empty entries).
MAX_MEMBERS = 10_000

_RESAVE = (
    "re-save it as JSON with xgboost: `b = xgboost.Booster(); b.load_model('xgboost-model'); "
    "b.save_model('model.json')`, then convert model.json"
)


def _safe_name(name: str) -> str | None:
    """The normalised member name, or None if it is absolute or escapes the archive."""
    if name.startswith(("/", "\\")) or "\\" in name:
        return None
    norm = posixpath.normpath(name)
    if norm.startswith("..") or norm.startswith("/"):
        return None
    return norm


def _read_member(path: Path) -> bytes:
    try:
        tf = tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ModelFormatError(f"{path.name}: not a readable tar.gz archive ({exc})") from None
    with tf:
        found = None
        try:
            for count, info in enumerate(tf):
                if count >= MAX_MEMBERS:
                    raise ModelFormatError(f"{path.name}: more than {MAX_MEMBERS} archive members")
                norm = _safe_name(info.name)
                if norm is None:
                    raise ModelFormatError(f"{path.name}: unsafe member path {info.name!r} (absolute or '..')")
                if posixpath.basename(norm) != MEMBER_NAME or norm != MEMBER_NAME:
                    continue
                if not info.isreg():
                    raise ModelFormatError(f"{path.name}: member {MEMBER_NAME!r} is a link or special file, not a regular file")
                if info.size > MAX_MEMBER_BYTES:
                    raise ModelFormatError(f"{path.name}: member {MEMBER_NAME!r} is {info.size} bytes, limit {MAX_MEMBER_BYTES}")
                found = info
                break
            if found is None:
                raise ModelFormatError(f"{path.name}: no {MEMBER_NAME!r} member at the archive root")
            # tarfile's 'data' filter (3.12+, backported) re-checks the member the same way.
            data_filter = getattr(tarfile, "data_filter", None)
            if data_filter is not None:
                try:
                    data_filter(found, "/nonexistent-modelport-dest")
                except tarfile.FilterError as exc:
                    raise ModelFormatError(f"{path.name}: unsafe member {found.name!r} ({exc})") from None
            fh = tf.extractfile(found)
            data = fh.read(MAX_MEMBER_BYTES + 1) if fh is not None else b""
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
            raise ModelFormatError(f"{path.name}: corrupt or truncated archive ({exc})") from None
    if len(data) != found.size:
        raise ModelFormatError(f"{path.name}: member {MEMBER_NAME!r} is truncated")
    return data


def _is_pickle(data: bytes) -> bool:
    # Protocol 2+ starts with PROTO (0x80) and the protocol number.
    return len(data) > 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def _is_legacy_binary(data: bytes) -> bool:
    # XGBoost < 1.0 (and save_raw('deprecated')) binary: optional b"binf" magic, then a
    # 136-byte LearnerModelParamLegacy (src/learner.cc) - float base_score, uint num_feature...
    return data[:4] == b"binf" or (len(data) >= 136 and data[:1] not in (b"{", b"[", b"\x80"))


def load_sagemaker_xgboost(path: str | Path, options: LoadOptions | None = None) -> Model:
    """Read a SageMaker XGBoost ``model.tar.gz`` into the IR."""
    path = Path(path)
    options = options or LoadOptions()
    data = _read_member(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if _is_pickle(data):
        if not options.trust_pickle:
            raise UnsupportedModelError(
                f"{path.name}: {MEMBER_NAME!r} is a Python pickle; unpickling runs code from the file. "
                "Pass trust_pickle=True only for archives you made yourself, or " + _RESAVE
            )
        data = _unpickle_to_json(data, path.name)
    if data.lstrip()[:1] == b"{":
        doc, kind = parse_document(data, f"{path.name}:{MEMBER_NAME}")
        return model_from_document(doc, source_format="sagemaker-xgboost", sha256=digest,
                                   iteration_end=options.iteration_end,
                                   use_best_iteration=options.use_best_iteration)
    if _is_legacy_binary(data):
        raise UnsupportedModelError(f"{path.name}: {MEMBER_NAME!r} is XGBoost's legacy binary format; " + _RESAVE)
    raise ModelFormatError(f"{path.name}: {MEMBER_NAME!r} is neither XGBoost JSON/UBJSON nor a pickle")


def _unpickle_to_json(data: bytes, name: str) -> bytes:
    require("xgboost", extra="xgboost", purpose="reading a pickled SageMaker XGBoost model")
    import pickle

    try:
        obj = pickle.loads(data)  # noqa: S301 - guarded by LoadOptions.trust_pickle
    except Exception as exc:  # any failure inside untrusted-format unpickling is a format error
        raise ModelFormatError(f"{name}: cannot unpickle {MEMBER_NAME!r} ({type(exc).__name__}: {exc})") from None
    booster = obj.get_booster() if hasattr(obj, "get_booster") else obj
    if not hasattr(booster, "save_raw"):
        raise UnsupportedModelError(f"{name}: the pickle holds a {type(obj).__name__}, not an XGBoost Booster")
    return bytes(booster.save_raw("json"))


def _sniff(head: bytes, name: str) -> bool:
    if head[:2] == b"\x1f\x8b":  # gzip: peek at the tar header inside
        try:
            inner = gzip.GzipFile(fileobj=io.BytesIO(head)).read(512)
        except (OSError, EOFError, zlib.error):
            inner = b""
        return inner[257:262] == b"ustar" or name.endswith((".tar.gz", ".tgz"))
    return head[257:262] == b"ustar"


FRONTENDS.register("sagemaker-xgboost", Frontend(
    name="sagemaker-xgboost", framework="xgboost",
    description="SageMaker built-in XGBoost model.tar.gz (member 'xgboost-model')",
    extensions=(".tar.gz", ".tgz"), sniff=_sniff, load=load_sagemaker_xgboost,
))
