"""Page bodies as Confluence stores them: every write re-serialises the storage format
(`reserialize_storage`), so a body read back is not byte-equal to the body written.

Attributes in sorted order, empty elements self-closed as `<x />`, named and numeric
entities replaced by characters (only `&amp; &lt; &gt; &quot;` are written, quotes in
text included), `ac:macro-id` (a uuid4) and `ac:schema-version="1"` added to
structured macros that lack them, CDATA kept for plain-text bodies.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from lxml import etree

from followup.sandbox.storage_html import AC_NS, parse_storage, qualified_name

_STRUCTURED_MACRO = f"{{{AC_NS}}}structured-macro"
_MACRO_ID = f"{{{AC_NS}}}macro-id"
_SCHEMA_VERSION = f"{{{AC_NS}}}schema-version"
_CDATA_ELEMENTS = frozenset({f"{{{AC_NS}}}plain-text-body", f"{{{AC_NS}}}plain-text-link-body"})
_XML_NS = "http://www.w3.org/XML/1998/namespace"


def _new_macro_id() -> str:
    return str(uuid.uuid4())


def reserialize_storage(body: str, *, new_macro_id: Callable[[], str] = _new_macro_id) -> str:
    """A storage-format body as Confluence stores it: same text and structure, other bytes.

    Raises `StorageFormatError` when the body is not well-formed.
    """
    root = parse_storage(body)
    for macro in root.iter(_STRUCTURED_MACRO):
        if not macro.get(_MACRO_ID):
            macro.set(_MACRO_ID, new_macro_id())
        if not macro.get(_SCHEMA_VERSION):
            macro.set(_SCHEMA_VERSION, "1")
    out: list[str] = [_escape_text(root.text[1:] if root.text else "")]
    for child in root:
        _write(child, out)
    return "".join(out)


def _escape_text(text: str) -> str:
    # Confluence writes quotes in text as &quot; too, whatever the client sent.
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _escape_attribute(value: str) -> str:
    return _escape_text(value)


def _attribute_name(name: str) -> str:
    if name.startswith(f"{{{_XML_NS}}}"):
        return "xml:" + name.split("}", 1)[1]
    return qualified_name(name)


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _write(node: etree._Element, out: list[str]) -> None:
    if isinstance(node, etree._Comment):
        out.append(f"<!--{node.text or ''}-->")
    elif isinstance(node.tag, str):
        name = qualified_name(node.tag)
        attributes = sorted((_attribute_name(str(k)), str(v)) for k, v in node.attrib.items())
        start = "<" + name + "".join(f' {k}="{_escape_attribute(v)}"' for k, v in attributes)
        if not node.text and len(node) == 0:
            out.append(start + " />")
        else:
            out.append(start + ">")
            if node.tag in _CDATA_ELEMENTS and len(node) == 0:
                out.append(_cdata(node.text or ""))
            else:
                out.append(_escape_text(node.text or ""))
                for child in node:
                    _write(child, out)
            out.append(f"</{name}>")
    else:  # a processing instruction: kept as lxml writes it
        out.append(etree.tostring(node, with_tail=False, encoding="unicode"))
    if node.tail:
        out.append(_escape_text(node.tail))
