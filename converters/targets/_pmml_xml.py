"""Iterative XML text emission for the PMML target.

``xml.etree`` serialises recursively (a 10,000-deep tree would exceed Python's recursion
limit), so the PMML target writes its text through :class:`Emitter`, which escapes every
attribute and text value and refuses characters XML 1.0 cannot carry at all (a feature name
holding ``\\x00`` has no PMML spelling: one-line UnsupportedModelError).
"""

from __future__ import annotations

import re

from modelport.core.errors import UnsupportedModelError

__all__ = ["Emitter", "check_xml_text"]

# XML 1.0 Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_BAD_CHARS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTR_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                               "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def check_xml_text(value: str, what: str) -> str:
    """``value`` unchanged, or a one-line UnsupportedModelError when XML cannot hold it."""
    bad = _BAD_CHARS.search(value)
    if bad:
        raise UnsupportedModelError(f"{what} {value!r} holds the character U+{ord(bad.group()):04X}, "
                                    "which XML 1.0 (hence PMML) cannot represent")
    return value


def _attrs(attrs: dict[str, str] | None) -> str:
    if not attrs:
        return ""
    return "".join(f' {k}="{check_xml_text(str(v), "value").translate(_ATTR_ESCAPES)}"' for k, v in attrs.items())


class Emitter:
    """Collects XML text; elements are opened and closed explicitly (no recursion)."""

    def __init__(self) -> None:
        self.parts: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>\n']
        self._stack: list[str] = []

    def open(self, tag: str, attrs: dict[str, str] | None = None) -> None:
        """``<tag attrs>``; must be matched by :meth:`close`."""
        self.parts.append(f"<{tag}{_attrs(attrs)}>")
        self._stack.append(tag)

    def close(self, tag: str) -> None:
        """``</tag>`` (checked against the innermost open element)."""
        top = self._stack.pop()
        if top != tag:  # pragma: no cover - a bug in the target, not bad input
            raise AssertionError(f"closing {tag} inside {top}")
        self.parts.append(f"</{tag}>")

    def empty(self, tag: str, attrs: dict[str, str] | None = None) -> None:
        """``<tag attrs/>``."""
        self.parts.append(f"<{tag}{_attrs(attrs)}/>")

    def text_element(self, tag: str, attrs: dict[str, str] | None, text: str) -> None:
        """``<tag attrs>text</tag>``."""
        self.parts.append(f"<{tag}{_attrs(attrs)}>{check_xml_text(text, 'text').translate(_TEXT_ESCAPES)}</{tag}>")

    def raw(self, text: str) -> None:
        """Already-escaped markup (built by this module's callers from escaped pieces)."""
        self.parts.append(text)

    def newline(self) -> None:
        """A line break between top-level blocks (keeps diffs and error positions readable)."""
        self.parts.append("\n")

    def text(self) -> str:
        """The document; every opened element must have been closed."""
        if self._stack:  # pragma: no cover
            raise AssertionError(f"unclosed elements: {self._stack}")
        return "".join(self.parts)


def attr_escape(value: str) -> str:
    """An attribute value escaped for use inside double quotes (checked for XML chars)."""
    return check_xml_text(value, "value").translate(_ATTR_ESCAPES)
