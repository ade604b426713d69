"""Renderers: a sync's plan and outcome, the health figures, an extraction and one
item's story as terminal text, JSON, Markdown and HTML.

Values in, text out; every string that came from a page or a site is escaped for the
output it goes into (`followup.reports.escaping`).
"""
