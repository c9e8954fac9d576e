"""SageMaker built-in XGBoost: the ``model.tar.gz`` its training jobs write.

The archive holds one member, ``xgboost-model`` (sagemaker-xgboost-container,
``src/sagemaker_xgboost_container/algorithm_mode/train.py`` saves it with ``save_model`` in the
container's default format, or with ``pickle`` in script mode/old versions).  We read only
that member, refuse links, absolute or ``..`` names, and anything larger than
:data:`MAX_MEMBER_BYTES` (or the model-file limit of :mod:`modelport.core.files`); the
archive is never extracted to disk, and no more than the limit + 1 MiB is ever decompressed
(a stream of zeros, a huge PAX header or a huge other member fail fast, in bounded memory).

Member contents:

* XGBoost JSON or UBJSON → parsed by the XGBoost frontend (no xgboost import);
* XGBoost's legacy binary format (``binf`` header or a raw ``LearnerModelParam``) → refused,
  with the command that re-saves it as JSON;
* a pickle → refused unless ``LoadOptions(trust_pickle=True)``: then unpickled (needs
  xgboost, runs arbitrary code from the file) and its ``save_raw("json")`` read.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import tarfile
import zlib
from pathlib import Path

from modelport.converters.frontends import FRONTENDS, Frontend, LoadOptions
from modelport.converters.frontends.xgboost import model_from_document, parse_document
from modelport.core.ir.model import Model
from modelport.core.errors import ModelFormatError, UnsupportedModelError, require
from modelport.core.files import is_pickle, max_model_bytes, open_regular, sha256_file

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


class _Bounded(io.RawIOBase):
    """A read-only view of a (decompressed) stream that refuses to go past ``budget`` bytes
    and refuses any single read larger than :data:`MAX_SINGLE_READ`.

    tarfile reads headers (a PAX header's declared size in one ``read``) and skips members
    by seeking, which on a gzip stream means decompressing everything skipped.  Counting the
    stream POSITION bounds both: a 20 GiB run of zeros inside a 20 MB .tar.gz stops after
    ``budget`` decompressed bytes, a 1.5 GB PAX header is refused before it is allocated.
    """

    def __init__(self, inner, budget: int, name: str) -> None:
        self._inner, self._budget, self._name = inner, budget, name

    def _check(self, end: int, n: int = 0) -> None:
        if n > MAX_SINGLE_READ:
            raise ModelFormatError(f"{self._name}: an archive header or block of {n} bytes (limit {MAX_SINGLE_READ})")
        if end > self._budget:
            raise ModelFormatError(f"{self._name}: more than {self._budget} bytes decompressed before "
                                   f"{MEMBER_NAME!r} was read: not a SageMaker model archive")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._inner.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self._inner.tell() + offset if whence == io.SEEK_CUR else None
        if target is None:
            raise OSError("cannot seek from the end of a compressed archive")
        self._check(target)
        return self._inner.seek(target)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._budget - self._inner.tell() + 1
        self._check(self._inner.tell() + n if n > 0 else 0, n)
        return self._inner.read(n)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


#: Largest single read passed to the archive (headers included); member data is read in
#: chunks of :data:`_CHUNK`.
MAX_SINGLE_READ = 16 << 20
_CHUNK = 1 << 20


def _open_stream(path: Path, raw, budget: int):
    """The archive's decompressed byte stream, bounded to ``budget`` bytes."""
    magic = raw.read(2)
    raw.seek(0)
    inner = gzip.GzipFile(fileobj=raw, mode="rb") if magic == b"\x1f\x8b" else raw
    return _Bounded(inner, budget, path.name)


def _read_member(path: Path) -> bytes:
    limit = min(MAX_MEMBER_BYTES, max_model_bytes())
    # Everything decompressed before and including the member: the member itself, plus
    # headers and whatever else the archive holds, is bounded by the member limit + 1 MiB.
    budget = limit + (1 << 20)
    raw = open_regular(path)  # regular files only: a FIFO never blocks
    with raw:
        try:
            tf = tarfile.open(fileobj=_open_stream(path, raw, budget), mode="r:")
        except ModelFormatError:
            raise
        except (tarfile.TarError, OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ModelFormatError(f"{path.name}: not a readable tar.gz archive ({_one_line(exc)})") from None
        with tf:
            return _find_member(path, tf, limit)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]


def _find_member(path: Path, tf: tarfile.TarFile, limit: int) -> bytes:
    found = None
    try:
        for count, info in enumerate(tf):
            if count >= MAX_MEMBERS:
                raise ModelFormatError(f"{path.name}: more than {MAX_MEMBERS} archive members")
            norm = _safe_name(info.name)
            if norm is None:
                raise ModelFormatError(f"{path.name}: unsafe member path {info.name[:80]!r} (absolute or '..')")
            if posixpath.basename(norm) != MEMBER_NAME or norm != MEMBER_NAME:
                continue
            if not info.isreg():
                raise ModelFormatError(f"{path.name}: member {MEMBER_NAME!r} is a link or special file, not a regular file")
            if info.size > limit:
                raise ModelFormatError(f"{path.name}: member {MEMBER_NAME!r} is {info.size} bytes, limit {limit}")
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
                raise ModelFormatError(f"{path.name}: unsafe member {found.name[:80]!r} ({exc})") from None
        fh = tf.extractfile(found)
        buf = bytearray()
        while fh is not None and len(buf) < found.size:  # streamed in chunks, never past the size
            chunk = fh.read(min(_CHUNK, found.size - len(buf)))
            if not chunk:
                break
            buf += chunk
        data = bytes(buf)
    except ModelFormatError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError, ValueError) as exc:
        raise ModelFormatError(f"{path.name}: corrupt or truncated archive ({_one_line(exc)})") from None
    if len(data) != found.size:
        raise ModelFormatError(f"{path.name}: member {MEMBER_NAME!r} is truncated")
    return data


def _is_legacy_binary(data: bytes) -> bool:
    # XGBoost < 1.0 (and save_raw('deprecated')) binary: optional b"binf" magic, then a
    # 136-byte LearnerModelParamLegacy (src/learner.cc) - float base_score, uint num_feature...
    return data[:4] == b"binf" or (len(data) >= 136 and data[:1] not in (b"{", b"[", b"\x80"))


def load_sagemaker_xgboost(path: str | Path, options: LoadOptions | None = None) -> Model:
    """Read a SageMaker XGBoost ``model.tar.gz`` into the IR."""
    path = Path(path)
    options = options or LoadOptions()
    data = _read_member(path)
    digest = sha256_file(path, what="model file")
    if is_pickle(data):
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
                                   use_best_iteration=options.use_best_iteration, source_bytes=len(data))
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
