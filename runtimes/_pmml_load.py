"""Reading a PMML file safely: size, token and depth limits before any tree is built.

Order of defences (each a one-line :class:`ModelFormatError`, memory bounded by the limits):

1. the file size (:data:`MAX_FILE_BYTES`);
2. a streaming byte scan, chunk by chunk with numpy: no run between two markup delimiters
   (``<`` / ``>``) may exceed :data:`MAX_TOKEN_BYTES`, so a 100 MB attribute or text node is
   refused before the XML parser buffers it;
3. defusedxml's ``iterparse`` with ``forbid_dtd=True``: a DOCTYPE (hence every entity
   declaration: billion laughs, external entities) is refused; element depth is counted on
   each start event and parsing stops past :data:`MAX_DEPTH`.

Only then is the element tree handed to the compiler.  defusedxml is imported lazily
(``pip install 'modelport[pmml]'``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.core.errors import ModelFormatError, require

__all__ = ["MAX_FILE_BYTES", "MAX_TOKEN_BYTES", "MAX_DEPTH", "parse_pmml", "local"]

#: Largest PMML file read (a 1,000-tree ensemble of depth 8 is about 60 MB).
MAX_FILE_BYTES = 1 << 30
#: Longest tag or text run (a SimpleSetPredicate Array of 100,000 codes is under 1 MB).
MAX_TOKEN_BYTES = 16 << 20
#: Deepest element nesting (a 10,000-deep tree nests 10,000 Nodes inside ~10 wrappers).
MAX_DEPTH = 20_000
_CHUNK = 4 << 20


def local(tag: str) -> str:
    """Element name without its namespace."""
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def _scan_tokens(path: Path, where: str) -> None:
    gap_start = 0  # offset of the last delimiter seen
    offset = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            b = np.frombuffer(chunk, dtype=np.uint8)
            pos = np.flatnonzero((b == 0x3C) | (b == 0x3E)) + offset
            if pos.size:
                gaps = np.diff(pos, prepend=gap_start)
                if gaps.max() > MAX_TOKEN_BYTES:
                    raise ModelFormatError(f"{where}: a tag or text run is longer than {MAX_TOKEN_BYTES} bytes "
                                           f"(near byte {int(pos[int(np.argmax(gaps))])}); refusing to parse")
                gap_start = int(pos[-1])
            offset += len(chunk)
            if offset - gap_start > MAX_TOKEN_BYTES:
                raise ModelFormatError(f"{where}: a tag or text run is longer than {MAX_TOKEN_BYTES} bytes "
                                       f"(from byte {gap_start}); refusing to parse")


def parse_pmml(path: str | Path):
    """The root ``Element`` of a PMML file, after the checks in the module docstring."""
    path = Path(path)
    where = path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ModelFormatError(f"{where}: cannot read ({type(exc).__name__})") from None
    if size > MAX_FILE_BYTES:
        raise ModelFormatError(f"{where}: {size} bytes is larger than the PMML limit of {MAX_FILE_BYTES}")
    _scan_tokens(path, where)
    dET = require("defusedxml.ElementTree", extra="pmml", purpose="Reading PMML safely")
    defused = require("defusedxml", extra="pmml", purpose="Reading PMML safely")
    depth = 0
    root = None
    try:
        with open(path, "rb") as fh:
            for event, elem in dET.iterparse(fh, events=("start", "end"), forbid_dtd=True):
                if event == "start":
                    depth += 1
                    if root is None:
                        root = elem
                    if depth > MAX_DEPTH:
                        raise ModelFormatError(f"{where}: elements nest deeper than {MAX_DEPTH} levels; refusing to parse")
                else:
                    depth -= 1
    except defused.DefusedXmlException as exc:
        raise ModelFormatError(f"{where}: refused unsafe XML ({type(exc).__name__}: DTDs and entities are not allowed)") from None
    except SyntaxError as exc:  # xml.etree.ElementTree.ParseError
        raise ModelFormatError(f"{where}: not well-formed XML ({exc})") from None
    if root is None or local(root.tag) != "PMML":
        raise ModelFormatError(f"{where}: the root element is not PMML")
    return root
