"""Confluence storage format in the sandbox: parse it as Confluence does, show it to people.

Pure functions, no I/O: `parse_storage` reads a stored body (an XHTML fragment with
undeclared `ac:`/`ri:`/`at:` prefixes and HTML named entities) into an lxml tree;
`storage_to_html` renders a body as safe HTML for the sandbox's page view. Live data
(a ticket's status and summary, a person's name) comes in through the two callables,
so the renderer is testable without a server or a database.

Jira issues show as Confluence shows them. A single-issue `jira` macro: the key as a
link, the issue's summary (unless the macro says `showSummary=false`), and its status
as a subtle lozenge coloured by status category; a Cloud smart link to `/browse/KEY`
(`data-card-appearance`): the same inline card, summary always. The parameter is the
Jira Issues macro's "Show Summary" option
(https://confluence.atlassian.com/doc/jira-issues-macro-139380.html). A macro naming
another application link (`serverId`) than the sandbox's own Jira shows nothing of
any issue, only that its server cannot be found, as Confluence does.

Everything a page contains is text to the renderer: only a fixed set of HTML
elements and attributes is let through, every string is escaped, and `<script>` and
friends are dropped with their content.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import date
from html.entities import name2codepoint

from lxml import etree

# One error for a body that is not storage format, whoever reads it (followup.errors).
from followup.errors import StorageFormatError
from followup.sandbox.state import JIRA_SERVER_ID

__all__ = [
    "AC_NS",
    "AT_NS",
    "NAMESPACES",
    "RI_NS",
    "StorageFormatError",
    "browse_key",
    "lozenge",
    "parse_storage",
    "qualified_name",
    "status_colour",
    "storage_to_html",
]

AC_NS = "http://atlassian.com/content"
RI_NS = "http://atlassian.com/resource/identifier"
AT_NS = "http://atlassian.com/template"
NAMESPACES = {"ac": AC_NS, "ri": RI_NS, "at": AT_NS}
_PREFIX_BY_NS = {ns: prefix for prefix, ns in NAMESPACES.items()}

# XML knows these five itself; every other XHTML 1.0 named entity is declared.
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_DOCTYPE = (
    "<!DOCTYPE storage ["
    + "".join(
        f'<!ENTITY {name} "&#{code};">'
        for name, code in sorted(name2codepoint.items())
        if name not in _XML_ENTITIES
    )
    + "]>"
)
_OPEN = (
    "<storage "
    + " ".join(f'xmlns:{prefix}="{ns}"' for prefix, ns in NAMESPACES.items())
    + ">\n"  # the body starts on line 2, column 1: error positions map back by line - 1
)
_CLOSE = "</storage>"
_LINE = re.compile(r"\bline ([0-9]+)")


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers are not safe to share between threads.
    # Internal entities only (ours); no network, no external DTD, no huge trees.
    return etree.XMLParser(
        strip_cdata=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=False,
    )


def parse_storage(body: str) -> etree._Element:
    """Parse a storage-format body. Returns a wrapper element whose children are the body.

    The wrapper's `text` starts with one newline that is not part of the body.
    Raises `StorageFormatError` when the body is not well-formed XML.
    """
    document = _DOCTYPE + _OPEN + body + _CLOSE
    try:
        return etree.fromstring(document.encode("utf-8"), _parser())
    except etree.XMLSyntaxError as error:
        # lxml counts lines in the wrapped document; the body starts on its line 2.
        message = _LINE.sub(lambda m: f"line {max(int(m.group(1)) - 1, 1)}", str(error.msg))
        raise StorageFormatError(message) from error


def qualified_name(tag: str) -> str:
    """`{http://atlassian.com/content}task` → `ac:task`; plain HTML names unchanged."""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        prefix = _PREFIX_BY_NS.get(ns)
        return f"{prefix}:{local}" if prefix else local
    return tag


# -- rendering -----------------------------------------------------------------------

_ALLOWED = frozenset(
    "p h1 h2 h3 h4 h5 h6 ul ol li table thead tbody tfoot tr th td caption colgroup col "  # noqa: SIM905
    "strong b em i u s del ins sub sup small big code pre blockquote br hr span div a "
    "abbr cite q dl dt dd kbd var samp mark".split()
)
_VOID = frozenset({"br", "hr", "col"})
_DROPPED = frozenset(
    "script style iframe frame frameset object embed applet form input textarea button "  # noqa: SIM905
    "select option link meta base svg math template noscript head title".split()
)
_KEPT_ATTRIBUTES = {
    "td": ("colspan", "rowspan"),
    "th": ("colspan", "rowspan"),
    "ol": ("start",),
    "col": ("span",),
}
_SKIPPED_AC = frozenset(
    {
        "ac:parameter",
        "ac:task-id",
        "ac:task-uuid",
        "ac:task-status",
        "ac:placeholder",
        "ac:adf-attribute",
    }
)
_COLOURS = ("grey", "red", "yellow", "green", "blue")
_CATEGORY_COLOUR = {
    "new": "grey",
    "to do": "grey",
    "undefined": "grey",
    "indeterminate": "blue",
    "in progress": "blue",
    "done": "green",
}
_BROWSE = re.compile(r"^(?:https?://[^/]+)?(?:/jira)?/browse/([A-Z][A-Z0-9_]*-[0-9]+)(?:[?#].*)?$")
_PANELS = frozenset({"panel", "info", "note", "warning", "tip", "success", "error"})
_CODE = frozenset({"code", "noformat"})

_e = html.escape


IssueFacts = tuple[str, str] | tuple[str, str, str]
"""A Jira issue as a page shows it: (status, status category[, summary])."""


def storage_to_html(
    body: str,
    *,
    issue_status: Callable[[str], IssueFacts | None],
    user_name: Callable[[str], str | None],
) -> str:
    """Render a storage-format body as HTML that is safe to put inside a page.

    `issue_status(key)` gives a Jira issue's `(status, status category, summary)` (the
    summary may be left out) or None when it does not exist; `user_name(id)` gives a
    display name for an account id,
    userkey or username, or None. An unparseable body is shown as escaped source
    under a notice.
    """
    try:
        root = parse_storage(body)
    except StorageFormatError as error:
        return (
            '<div class="unparseable"><p><strong>This page body is not valid storage '
            f"format</strong> ({_e(str(error))}). Its source:</p><pre>{_e(body)}</pre></div>"
        )
    renderer = _Renderer(issue_status, user_name)
    text = root.text[1:] if root.text else ""  # the wrapper's own newline
    return _e(text) + renderer.children(root)


def lozenge(title: str, colour: str, *, subtle: bool = False) -> str:
    """A status lozenge as the page view shows it: `colour` one of the five macro colours."""
    colour = colour.lower() if colour.lower() in _COLOURS else "grey"
    classes = f"lozenge lozenge-{colour}" + (" lozenge-subtle" if subtle else "")
    return f'<span class="{classes}" data-colour="{colour.capitalize()}">{_e(title)}</span>'


def status_colour(status_category: str) -> str:
    """The lozenge colour Jira gives a status category (key or name)."""
    return _CATEGORY_COLOUR.get(status_category.strip().lower(), "grey")


def browse_key(href: str) -> str | None:
    """The issue key a `/browse/KEY` link (relative, or on any site) points at."""
    match = _BROWSE.match(href.strip())
    return match.group(1) if match else None


def _text(element: etree._Element) -> str:
    return "".join(str(piece) for piece in element.itertext())


def _is_element(node: etree._Element) -> bool:
    return isinstance(node.tag, str)


class _Renderer:
    def __init__(
        self,
        issue_status: Callable[[str], IssueFacts | None],
        user_name: Callable[[str], str | None],
    ) -> None:
        self.issue_status = issue_status
        self.user_name = user_name

    # -- walking ---------------------------------------------------------------------

    def children(self, element: etree._Element) -> str:
        parts: list[str] = []
        for child in element:
            if _is_element(child):
                parts.append(self.element(child))
            # comments, processing instructions: not shown, but their tail is text
            if child.tail:
                parts.append(_e(child.tail))
        return "".join(parts)

    def inner(self, element: etree._Element) -> str:
        return (_e(element.text) if element.text else "") + self.children(element)

    def element(self, element: etree._Element) -> str:
        name = qualified_name(element.tag)
        if name.startswith("ac:"):
            return self.ac(name, element)
        if name.startswith("ri:"):
            return self.mention(element) if name == "ri:user" else ""
        if name.startswith("at:"):
            return self.inner(element)
        name = name.lower()
        if name in _DROPPED:
            return ""
        if name == "time":
            return self.time(element)
        if name == "a":
            return self.link(element)
        if name not in _ALLOWED:
            return self.inner(element)
        attributes = "".join(
            f' {attr}="{_e(value)}"'
            for attr in _KEPT_ATTRIBUTES.get(name, ())
            if (value := element.get(attr)) is not None and value.isdigit()
        )
        if name in _VOID:
            return f"<{name}{attributes}>"
        return f"<{name}{attributes}>{self.inner(element)}</{name}>"

    # -- plain HTML with meaning -------------------------------------------------------

    def time(self, element: etree._Element) -> str:
        value = element.get("datetime") or _text(element)
        try:
            shown = date.fromisoformat(value[:10]).strftime("%-d %b %Y")
        except ValueError:
            shown = value
        return f'<time datetime="{_e(value)}">{_e(shown)}</time>'

    def link(self, element: etree._Element) -> str:
        href = (element.get("href") or "").strip()
        body = self.inner(element) or _e(href)
        key = browse_key(href)
        if key and element.get("data-card-appearance") is not None:
            # a Cloud smart link: Confluence shows the issue as an inline card
            return self.issue_card(key, show_summary=True)
        if key:
            return f'<a class="jira-link" href="/browse/{_e(key)}">{body}</a>'
        if href.startswith(("/", "#", "http://", "https://", "mailto:")):
            return f'<a href="{_e(href)}" rel="nofollow noopener">{body}</a>'
        return f"<span>{body}</span>"

    # -- Confluence elements -----------------------------------------------------------

    def ac(self, name: str, element: etree._Element) -> str:
        if name in _SKIPPED_AC:
            return ""
        if name == "ac:task-list":
            return self.task_list(element)
        if name == "ac:task":
            return self.task(element)
        if name in ("ac:structured-macro", "ac:macro"):
            return self.macro(element)
        if name == "ac:link":
            return self.ac_link(element)
        if name == "ac:emoticon":
            fallback = element.get(f"{{{AC_NS}}}emoji-fallback")
            return _e(fallback or f":{element.get(f'{{{AC_NS}}}name', '')}:")
        if name == "ac:image":
            return self.image(element)
        if name == "ac:adf-extension":
            adf_fallback = element.find(f"{{{AC_NS}}}adf-fallback")
            return self.inner(adf_fallback) if adf_fallback is not None else ""
        if name in ("ac:layout", "ac:layout-section", "ac:layout-cell"):
            return f'<div class="{name[3:]}">{self.inner(element)}</div>'
        return self.inner(element)

    def task_list(self, element: etree._Element) -> str:
        items: list[str] = []
        for child in element:
            if not _is_element(child):
                continue
            name = qualified_name(child.tag)
            if name == "ac:task":
                items.append(self.task(child))
            elif name == "ac:task-list":
                items.append(f'<li class="nested">{self.task_list(child)}</li>')
        return f'<ul class="task-list">{"".join(items)}</ul>'

    def task(self, element: etree._Element) -> str:
        status = element.find(f"{{{AC_NS}}}task-status")
        complete = status is not None and _text(status).strip() == "complete"
        body = element.find(f"{{{AC_NS}}}task-body")
        task_id = element.find(f"{{{AC_NS}}}task-id")
        data_id = f' data-task-id="{_e(_text(task_id).strip())}"' if task_id is not None else ""
        checked = " checked" if complete else ""
        state = "complete" if complete else "incomplete"
        content = self.inner(body) if body is not None else ""
        return (
            f'<li class="task task-{state}"{data_id}><label>'
            f'<input type="checkbox" disabled{checked}> '
            f'<span class="task-body">{content}</span></label></li>'
        )

    def ac_link(self, element: etree._Element) -> str:
        user = element.find(f"{{{RI_NS}}}user")
        if user is not None:
            return self.mention(user)
        label = ""
        for tag in ("link-body", "plain-text-link-body"):
            found = element.find(f"{{{AC_NS}}}{tag}")
            if found is not None:
                label = self.inner(found)
        page = element.find(f"{{{RI_NS}}}page")
        if page is not None:
            title = page.get(f"{{{RI_NS}}}content-title", "")
            return f'<span class="page-link">{label or _e(title)}</span>'
        anchor = element.get(f"{{{AC_NS}}}anchor")
        return f'<span class="link">{label or _e(anchor or "")}</span>'

    def mention(self, user: etree._Element) -> str:
        ident = ""
        for attr in ("account-id", "userkey", "username"):
            ident = user.get(f"{{{RI_NS}}}{attr}") or ""
            if ident:
                break
        name = self.user_name(ident) if ident else None
        shown = name if name is not None else (f"unknown user {ident}" if ident else "unknown user")
        return f'<span class="mention">@{_e(shown)}</span>'

    def image(self, element: etree._Element) -> str:
        attachment = element.find(f"{{{RI_NS}}}attachment")
        url = element.find(f"{{{RI_NS}}}url")
        if attachment is not None:
            what = attachment.get(f"{{{RI_NS}}}filename", "")
        elif url is not None:
            what = url.get(f"{{{RI_NS}}}value", "")
        else:
            what = ""
        return f'<span class="image">[image{": " if what else ""}{_e(what)}]</span>'

    def macro(self, element: etree._Element) -> str:
        name = (element.get(f"{{{AC_NS}}}name") or "").lower()
        params = {
            (p.get(f"{{{AC_NS}}}name") or ""): _text(p)
            for p in element.findall(f"{{{AC_NS}}}parameter")
        }
        rich = element.find(f"{{{AC_NS}}}rich-text-body")
        plain = element.find(f"{{{AC_NS}}}plain-text-body")
        rich_html = self.inner(rich) if rich is not None else ""
        if name == "status":
            colour = params.get("colour") or params.get("color") or "Grey"
            title = params.get("title") or colour
            return lozenge(title, colour, subtle=params.get("subtle", "").lower() == "true")
        if name == "jira":
            return self.jira(params)
        if name in _CODE:
            code_title = params.get("title")
            caption = f'<div class="code-title">{_e(code_title)}</div>' if code_title else ""
            code = _text(plain) if plain is not None else _text(element)
            return f'<div class="code">{caption}<pre><code>{_e(code)}</code></pre></div>'
        if name in _PANELS:
            panel_title = params.get("title")
            heading = f'<div class="panel-title">{_e(panel_title)}</div>' if panel_title else ""
            return f'<div class="panel panel-{name}">{heading}{rich_html}</div>'
        if name == "expand":
            title = params.get("title") or "Click here to expand..."
            return f"<details><summary>{_e(title)}</summary>{rich_html}</details>"
        if name == "anchor":
            return ""
        return f'<div class="macro"><span class="macro-name">[{_e(name)}]</span>{rich_html}</div>'

    def jira(self, params: dict[str, str]) -> str:
        key = params.get("key", "").strip()
        if not key:
            query = params.get("jqlQuery") or params.get("jql") or ""
            return f'<span class="macro">[Jira issues: {_e(query)}]</span>'
        server_id = params.get("serverId", "").strip()
        if server_id and server_id != JIRA_SERVER_ID:
            # A macro of an application link this Confluence does not have: Confluence
            # shows its own error, and nothing of any issue.
            return (
                f'<span class="jira">{_e(key)} '
                f"{lozenge('UNABLE TO LOCATE JIRA SERVER', 'red', subtle=True)}</span>"
            )
        show = params.get("showSummary", "true").strip().lower() != "false"
        return self.issue_card(key, show_summary=show)

    def issue_card(self, key: str, *, show_summary: bool) -> str:
        """One issue as Confluence shows it: key, summary, status (subtle lozenge)."""
        found = self.issue_status(key)
        link = f'<a class="jira-issue" href="/browse/{_e(key)}">{_e(key)}</a>'
        if found is None:
            return f'<span class="jira">{link} {lozenge("NOT FOUND", "red", subtle=True)}</span>'
        status, category = found[0], found[1]
        summary = found[2] if len(found) > 2 else ""
        text = (
            f' <span class="jira-summary">{_e(summary)}</span>' if show_summary and summary else ""
        )
        badge = lozenge(status.upper(), status_colour(category), subtle=True)
        return f'<span class="jira">{link}{text} {badge}</span>'
