"""The incident a postmortem names in its header table ("Incident | INC-2264").

A postmortem template opens with a table of facts: a row (or the header row) whose
first cell is one of the vocabulary's `incident_rows` words, and whose next cell holds
the incident's ticket as a jira macro, a `/browse/` link or a plain key. The text
returned is what that cell names (a macro's or link's key first); which keys are
linked is the routing's decision (`followup.core.routing.Routing.incident_key`).
"""

from __future__ import annotations

import itertools

from followup.core.storage_format.text import browse_link_key, jira_key, visible_text
from followup.core.storage_format.xml import LINK, MACRO_TAGS, Element
from followup.core.vocabulary import Vocabulary, normalise_word

__all__ = ["incident_text"]


def _cell_text(cell: Element) -> str:
    keys = [k for m in cell.iter(*MACRO_TAGS) if (k := jira_key(m))]
    keys += [k for link in cell.iter(LINK, "a") if (k := browse_link_key(link))]
    return " ".join([*keys, visible_text(cell)]).strip()


def incident_text(root: Element, vocabulary: Vocabulary) -> str | None:
    """The text of the first table cell that follows a cell naming the incident, or
    None when no table row names one."""
    words = {normalise_word(w) for w in vocabulary.incident_rows}
    for table in root.iter("table"):
        for row in table.iter("tr"):
            cells = [c for c in row if c.tag in ("th", "td")]
            for first, second in itertools.pairwise(cells):
                if normalise_word(visible_text(first)).rstrip(":") in words:
                    text = _cell_text(second)
                    if text:
                        return text
    return None
