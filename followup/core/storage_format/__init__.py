"""The storage-format core: action items out of Confluence page bodies, badges back in.

All the functions here are purely data-manipulative: a page body (a string) and
values in, values and a page body out. No I/O, no clock, no environment, no HTTP
client. The rules are in docs/storage-format.md.

- `extract(body, page_id)` reads the action items and findings of a page;
  `extract_page(page, max_bytes=...)` does so unless the page is too large to read.
- `render(body, page_id, changes, summary=...)` writes tickets, badges, ticks, owners,
  due dates and the page summary lozenge back into a page body.
- `parse_due_text(text, date_order=...)` reads a due date typed as text.

The words extraction looks for are a `followup.core.vocabulary.Vocabulary` (English by
default), given to `extract` and `render` alike.
"""

from followup.core.storage_format.dates import parse_due_text
from followup.core.storage_format.extract import extract, extract_page
from followup.core.storage_format.render import render
from followup.core.storage_format.xml import StorageFormatError

__all__ = [
    "StorageFormatError",
    "extract",
    "extract_page",
    "parse_due_text",
    "render",
]
