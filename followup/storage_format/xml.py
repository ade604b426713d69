"""Reading and writing a storage-format fragment as an XML tree.

A page body is an XHTML fragment: no root element, `ac:`/`ri:` prefixes used but never
declared, HTML named entities (`&nbsp;`, `&mdash;`) that XML does not define, CDATA in
code macros. `parse` wraps it in a root that declares the prefixes, turns named
entities into numeric references first (never inside CDATA or comments), and parses
it strictly with lxml: no entity expansion, no network, no huge-tree mode. `serialise`
writes the root's content back without the declarations, so the output uses the same
undeclared prefixes as the input, characters instead of named entities, and CDATA
where it was.

Pure: strings in, trees and strings out.
"""

from __future__ import annotations

import html.entities
import re
import uuid
from collections.abc import Iterator
from datetime import date
from typing import cast

from lxml import etree

from followup.errors import FollowupError
from followup.model import Badge, Owner

AC_NS = "http://atlassian.com/content"
RI_NS = "http://atlassian.com/resource/identifier"
AT_NS = "http://atlassian.com/template"

_ROOT = "followup-root"
_KNOWN_PREFIXES = {"ac": AC_NS, "ri": RI_NS, "at": AT_NS}

Element = etree._Element


def ac(name: str) -> str:
    """The tag or attribute name `ac:<name>` as lxml spells it."""
    return f"{{{AC_NS}}}{name}"


def ri(name: str) -> str:
    """The tag or attribute name `ri:<name>` as lxml spells it."""
    return f"{{{RI_NS}}}{name}"


TASK = ac("task")
TASK_LIST = ac("task-list")
TASK_ID = ac("task-id")
TASK_UUID = ac("task-uuid")
TASK_STATUS = ac("task-status")
TASK_BODY = ac("task-body")
STRUCTURED_MACRO = ac("structured-macro")
LEGACY_MACRO = ac("macro")
MACRO_TAGS = (STRUCTURED_MACRO, LEGACY_MACRO)
PARAMETER = ac("parameter")
LINK = ac("link")
USER = ri("user")
NAME = ac("name")
MACRO_ID = ac("macro-id")
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")

# A fixed namespace for the ids of the macros followup writes (uuid5 of it and the
# page id, item key and role), so that re-rendering finds and replaces them.
_MACRO_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/followup/followup/macro")


class StorageFormatError(FollowupError):
    """A page body is not storage format that followup can read, so it cannot be edited."""


_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_ENTITY_OR_PROTECTED = re.compile(
    r"<!\[CDATA\[.*?\]\]>|<!--.*?-->"
    r"|&(#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{0,31};)?",
    re.DOTALL,
)
_PREFIX_USE = re.compile(r"[<\s/]([A-Za-z_][\w.-]*):[A-Za-z_]")


def _translate(match: re.Match[str]) -> str:
    whole = match.group(0)
    if whole[0] == "<":
        return whole  # CDATA section or comment: entities are not entities there
    ref = match.group(1)
    if ref is None:
        return "&amp;"  # a bare ampersand: read it as the character a person typed
    if ref[0] == "#":
        return whole
    name = ref[:-1]
    if name in _XML_ENTITIES:
        return whole
    chars = html.entities.html5.get(ref)
    if chars is None:
        return "&amp;" + ref  # not an entity anyone defines: keep it as text
    return "".join(f"&#{ord(char)};" for char in chars)


def translate_entities(body: str) -> str:
    """The body with HTML named entities as numeric references (CDATA and comments
    untouched) and stray ampersands escaped, ready for an XML parser."""
    if "&" not in body:
        return body
    return _ENTITY_OR_PROTECTED.sub(_translate, body)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        strip_cdata=False,
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        recover=False,
    )


_PARSER = _parser()


def _wrap(text: str, prefixes: dict[str, str]) -> bytes:
    declarations = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in prefixes.items())
    return f"<{_ROOT} {declarations}>{text}</{_ROOT}>".encode()


def parse(body: str) -> Element:
    """The fragment as the children of a root element; raises StorageFormatError."""
    try:
        text = translate_entities(body)
        try:
            return etree.fromstring(_wrap(text, _KNOWN_PREFIXES), _PARSER)
        except etree.XMLSyntaxError as first:
            # A prefix other than ac:/ri:/at: (a third-party macro's): declare it too.
            extra = {
                prefix: f"urn:followup:undeclared:{prefix}"
                for prefix in sorted(set(_PREFIX_USE.findall(text)))
                if prefix not in _KNOWN_PREFIXES and prefix not in ("xml", "xmlns")
            }
            if not extra:
                raise first from None
            return etree.fromstring(_wrap(text, {**_KNOWN_PREFIXES, **extra}), _PARSER)
    except (etree.XMLSyntaxError, ValueError) as error:  # ValueError: unencodable text
        raise StorageFormatError(
            f"the page body is not well-formed storage format: {error}",
            hint="open the page in the Confluence editor and save it again",
        ) from None


def serialise(root: Element) -> str:
    """The root's content as a storage-format fragment (no namespace declarations)."""
    text = etree.tostring(root, encoding="unicode")
    if text.endswith("/>") and text.count("<") == 1:
        return ""
    start = text.index(">") + 1
    end = text.rindex("<")
    return text[start:end]


# --- reading elements ----------------------------------------------------------------


def macro_name(el: Element) -> str | None:
    """The name of a macro element (`status`, `jira`, ...), or None for anything else."""
    if el.tag in MACRO_TAGS:
        return el.get(NAME)
    return None


def macro_parameter(macro: Element, name: str) -> str | None:
    """A macro parameter's value, or None when the macro has no such parameter."""
    for child in macro:
        if child.tag == PARAMETER and child.get(NAME) == name:
            return all_text(child)
    return None


def is_mention(el: Element) -> bool:
    """Whether the element is a user mention (`ac:link` around `ri:user`)."""
    return el.tag == LINK and any(child.tag == USER for child in el)


def mention_owner(link: Element) -> Owner | None:
    """The owner a mention names (account id, else userkey, else username)."""
    for child in link:
        if child.tag == USER:
            if value := child.get(ri("account-id")):
                return Owner("account_id", value)
            if value := child.get(ri("userkey")):
                return Owner("userkey", value)
            if value := child.get(ri("username")):
                return Owner("username", value)
    return None


def all_text(el: Element) -> str:
    """All text under an element, as written (lxml yields `str` for a `str` parse)."""
    return "".join(cast(Iterator[str], el.itertext()))


# --- writing elements ----------------------------------------------------------------


def macro_id(page_id: str, item_key: str, role: str) -> str:
    """The deterministic `ac:macro-id` of a macro followup writes for an item and role."""
    return str(uuid.uuid5(_MACRO_ID_NAMESPACE, f"{page_id}\x1f{item_key}\x1f{role}"))


def _macro(name: str, ident: str, parameters: list[tuple[str, str]]) -> Element:
    macro = etree.Element(
        STRUCTURED_MACRO, {NAME: name, ac("schema-version"): "1", MACRO_ID: ident}
    )
    for key, value in parameters:
        parameter = etree.SubElement(macro, PARAMETER, {NAME: key})
        parameter.text = value
    return macro


def make_status(badge: Badge, ident: str) -> Element:
    """A status macro (lozenge) showing the badge."""
    return _macro("status", ident, [("title", badge.title), ("colour", str(badge.colour))])


def make_jira(key: str, ident: str, server: str | None, server_id: str | None) -> Element:
    """A jira macro showing one issue."""
    parameters = []
    if server is not None:
        parameters.append(("server", server))
    if server_id is not None:
        parameters.append(("serverId", server_id))
    parameters.append(("key", key))
    return _macro("jira", ident, parameters)


def make_mention(owner: Owner) -> Element:
    """A user mention for an account id, userkey or username."""
    attribute = {"account_id": "account-id", "userkey": "userkey", "username": "username"}[
        owner.kind
    ]
    link = etree.Element(LINK)
    etree.SubElement(link, USER, {ri(attribute): owner.value})
    return link


def make_time(due: date) -> Element:
    """A date element (`<time datetime="YYYY-MM-DD"/>`)."""
    return etree.Element("time", {"datetime": due.isoformat()})


def set_macro_parameter(macro: Element, name: str, value: str) -> bool:
    """Set a macro parameter (adding it if missing); True if anything changed."""
    for child in macro:
        if child.tag == PARAMETER and child.get(NAME) == name:
            if all_text(child) == value and len(child) == 0:
                return False
            for grandchild in list(child):
                child.remove(grandchild)
            child.text = value
            return True
    parameter = etree.SubElement(macro, PARAMETER, {NAME: name})
    parameter.text = value
    return True


def remove_keeping_tail(el: Element) -> None:
    """Remove an element; the text that followed it stays where it was."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail or ""
    previous = el.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(el)


def replace_keeping_tail(old: Element, new: Element) -> None:
    """Put `new` where `old` stands; the text that followed `old` follows `new`."""
    parent = old.getparent()
    if parent is None:
        return
    new.tail = old.tail
    parent.replace(old, new)


def insert_after(anchor: Element, new: Element) -> None:
    """Insert `new` directly after `anchor` (nothing between them); the text that
    followed `anchor` follows `new`."""
    new.tail = anchor.tail
    anchor.tail = None
    anchor.addnext(new)


def insert_before(anchor: Element, new: Element) -> None:
    """Insert `new` before `anchor`, separated from it by a space."""
    parent = anchor.getparent()
    if parent is None:
        return
    _space_before(parent, parent.index(anchor))
    new.tail = " "
    anchor.addprevious(new)


def insert_at(parent: Element, index: int, new: Element) -> None:
    """Insert `new` as the parent's child at `index`, after a space."""
    _space_before(parent, index)
    new.tail = None
    parent.insert(index, new)


def _space_before(parent: Element, index: int) -> None:
    if index == 0:
        if parent.text and not parent.text[-1].isspace():
            parent.text += " "
        return
    previous = parent[index - 1]
    if previous.tail:
        if not previous.tail[-1].isspace():
            previous.tail += " "
    elif isinstance(previous.tag, str):
        previous.tail = " "
