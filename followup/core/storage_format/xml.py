"""Reading and writing a storage-format fragment as an XML tree.

A page body is an XHTML fragment: no root element, `ac:`/`ri:` prefixes used but never
declared, HTML named entities (`&nbsp;`, `&mdash;`) that XML does not define, CDATA in
code macros. `parse` wraps it in a root that declares the prefixes, after an internal DTD
subset declaring the HTML entities the body uses, and parses it strictly with lxml:
only those declared entities are expanded, nothing external is loaded, no network,
no huge-tree mode. `serialise`
writes the root's content back without the declarations, so the output uses the same
undeclared prefixes as the input, characters instead of named entities, and CDATA
where it was.

Pure: strings in, trees and strings out.
"""

from __future__ import annotations

import html.entities
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import date
from typing import cast

from lxml import etree

from followup.core.model import Badge, Owner
from followup.errors import StorageFormatError as StorageFormatError  # raised here

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


_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_BARE_AMPERSAND = re.compile(r"&(?![A-Za-z][A-Za-z0-9]{0,31};|#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};)")
_NAMED_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]{0,31});")
_PREFIX_USE = re.compile(r"[<\s/]([A-Za-z_][\w.-]*):[A-Za-z_]")


def _escape_ampersands(body: str) -> str:
    """Stray ampersands (not starting a reference) as `&amp;`, outside CDATA and
    comments: a person typed the character."""
    first = _BARE_AMPERSAND.search(body)
    if first is None:
        return body
    spans = _protected_spans(body)  # CDATA sections and comments, found lazily
    span = next(spans, None)
    if span is None:
        return _BARE_AMPERSAND.sub("&amp;", body)
    parts: list[str] = []
    last = 0
    for match in _BARE_AMPERSAND.finditer(body, first.start()):
        position = match.start()
        while span is not None and span[1] <= position:
            span = next(spans, None)
        if span is not None and span[0] <= position:
            continue  # inside CDATA or a comment: kept as it is
        parts.append(body[last:position])
        parts.append("&amp;")
        last = position + 1
    parts.append(body[last:])
    return "".join(parts)


def _protected_spans(body: str) -> Iterator[tuple[int, int]]:
    """The CDATA sections and comments, `[start, end)` in order: each from its opening
    to the first closing marker after it (one never closed is none), found with
    `str.find` (on the rare `!`, not the frequent `<`)."""
    cdata_closes = comment_closes = True  # False once no later closing marker exists
    start = _markup_declaration(body, 0)
    while start != -1:
        end = -1
        if body.startswith("<![CDATA[", start):
            if cdata_closes:
                end = body.find("]]>", start + 9)
                cdata_closes = end != -1
        elif body.startswith("<!--", start) and comment_closes:
            end = body.find("-->", start + 4)
            comment_closes = end != -1
        if end == -1:
            start = _markup_declaration(body, start + 1)
        else:
            yield start, end + 3
            start = _markup_declaration(body, end + 3)


def _markup_declaration(body: str, start: int) -> int:
    """The offset of the next `<!` at or after `start`, or -1."""
    bang = body.find("!", start + 1)
    while bang != -1 and body[bang - 1] != "<":
        bang = body.find("!", bang + 1)
    return bang - 1 if bang != -1 else -1


def _entity_value(name: str) -> str:
    """An entity declaration's value giving the characters of an HTML entity (or, for
    a name no one defines, the text `&name;` as typed). `&` and `<` are escaped twice:
    a declaration's character references are expanded once when it is read."""
    chars = html.entities.html5.get(name + ";")
    if chars is None:
        return f"&#38;#38;{name};"
    return "".join(f"&#38;#{ord(c)};" if c in "&<" else f"&#{ord(c)};" for c in chars)


def prepare(body: str, prefixes: dict[str, str] | None = None) -> bytes:
    """The bytes lxml parses for a body: the fragment inside a root element declaring
    the prefixes, after an internal DTD subset that declares each HTML named entity
    the body uses (so libxml2 expands them, in C, never inside CDATA or comments)."""
    text = body
    doctype = ""
    if "&" in body:
        text = _escape_ampersands(body)
        names = set(_NAMED_ENTITY.findall(text)) - _XML_ENTITIES
        if names:
            doctype = _doctype(sorted(names))
    if not prefixes:
        return f"{doctype}{_ROOT_START}{text}{_ROOT_END}".encode()
    declared = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in prefixes.items())
    return f"{doctype}<{_ROOT} {declared}>{text}{_ROOT_END}".encode()


def _doctype(names: Iterable[str]) -> str:
    declarations = "".join(f'<!ENTITY {name} "{_entity_value(name)}">' for name in names)
    return f"<!DOCTYPE {_ROOT} [{declarations}]>"


_ROOT_START = (
    f"<{_ROOT} "
    + " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _KNOWN_PREFIXES.items())
    + ">"
)
_ROOT_END = f"</{_ROOT}>"

# The HTML entities storage format most often carries: the non-breaking space,
# typographic punctuation, the commonest accented letter. Finding the entities a body
# uses means a regex match at every `&` (a quarter of the time libxml2 takes to parse
# a 20 KB page), so `parse` first declares just these, which costs next to nothing; a
# body using any other entity (undeclared, a fatal error) is read again the exact way.
_COMMON_ENTITIES = (
    "bull",
    "eacute",
    "hellip",
    "ldquo",
    "lsquo",
    "mdash",
    "middot",
    "nbsp",
    "ndash",
    "rdquo",
    "rsquo",
)
_COMMON_DOCTYPE = _doctype(_COMMON_ENTITIES)


_LONG_CHAR_REFERENCE = re.compile(r"&#(?:[0-9]{8}|[xX][0-9a-fA-F]{7})")


def _plain_references(body: str) -> bool:
    """Whether libxml2 reads each `&` of the body as `prepare` does when it reads it
    at all: not so inside a processing instruction (raw to libxml2, escaped by
    `prepare`), nor for a character reference with leading zeros past the lengths
    `_BARE_AMPERSAND` accepts (a character to libxml2, text to `prepare`)."""
    if "#" in body and _LONG_CHAR_REFERENCE.search(body):
        return False
    question = body.find("?")
    while question != -1:
        if question and body[question - 1] == "<":
            return False
        question = body.find("?", question + 1)
    return True


def _parser() -> etree.XMLParser:
    # Entities: only the ones `prepare` declares are expanded ("internal"); the body
    # cannot declare any (a DOCTYPE inside the root is an error) and nothing external is
    # ever loaded. No huge-tree mode: libxml2's depth and size limits stay on.
    return etree.XMLParser(
        strip_cdata=False,
        resolve_entities="internal",  # type: ignore[arg-type]
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        recover=False,
    )


def parse(body: str) -> Element:
    """The fragment as the children of a root element; raises StorageFormatError."""
    if "&" in body and _plain_references(body):
        try:
            # The body as it is, with the common entities declared. If libxml2 reads
            # it, every `&` it met was a reference to one of those (or to amp, lt...)
            # or a character reference: `prepare` would have escaped none of them and
            # its declarations would only add unused ones, so the tree is the same.
            return etree.fromstring(
                f"{_COMMON_DOCTYPE}{_ROOT_START}{body}{_ROOT_END}".encode(), _parser()
            )
        except (etree.XMLSyntaxError, ValueError):
            pass  # a stray `&`, another entity, or a body that fails anyway: as below
    try:
        try:
            # A parser per call: lxml parsers must not be shared between threads, and
            # the engine extracts pages from a thread pool (a new one costs ~1 µs).
            return etree.fromstring(prepare(body), _parser())
        except etree.XMLSyntaxError as first:
            # A prefix other than ac:/ri:/at: (a third-party macro's): declare it too.
            extra = {
                prefix: f"urn:followup:undeclared:{prefix}"
                for prefix in sorted(set(_PREFIX_USE.findall(body)))
                if prefix not in _KNOWN_PREFIXES and prefix not in ("xml", "xmlns")
            }
            if not extra:
                raise first from None
            return etree.fromstring(prepare(body, {**_KNOWN_PREFIXES, **extra}), _parser())
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
        if child.tag == USER and (owner := user_owner(child)) is not None:
            return owner
    return None


def user_owner(user: Element) -> Owner | None:
    """The owner an `ri:user` names (account id, else userkey, else username)."""
    if value := user.get(_ACCOUNT_ID):
        return Owner("account_id", value)
    if value := user.get(_USERKEY):
        return Owner("userkey", value)
    if value := user.get(_USERNAME):
        return Owner("username", value)
    return None


_ACCOUNT_ID, _USERKEY, _USERNAME = ri("account-id"), ri("userkey"), ri("username")


def all_text(el: Element) -> str:
    """All text under an element, as written (lxml yields `str` for a `str` parse)."""
    if not len(el):
        return el.text or ""
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
    """A jira macro showing one issue, as Confluence's editor writes it: `server` (the
    application link's name), `serverId` (its id), `key`; and `showSummary=false`, so
    that it shows the key and the live status lozenge without repeating the item's
    text as the issue summary (the Jira Issues macro's "Show Summary" option,
    https://confluence.atlassian.com/doc/jira-issues-macro-139380.html)."""
    parameters = []
    if server is not None:
        parameters.append(("server", server))
    if server_id is not None:
        parameters.append(("serverId", server_id))
    parameters.append(("key", key))
    parameters.append(("showSummary", "false"))
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
        previous.tail = ((previous.tail or "") + tail) or None
    else:
        parent.text = ((parent.text or "") + tail) or None
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
