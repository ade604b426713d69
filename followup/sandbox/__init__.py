"""A local stand-in for a Jira Cloud + Confluence Cloud site, for demos and tests.

Not part of the product's sync path: the sync talks to it over HTTP exactly as it
talks to a real site. See docs/sandbox.md.
"""
