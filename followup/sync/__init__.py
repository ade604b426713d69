"""The sync engine: reads the sites, asks the core for a plan, carries the plan out.

Everything here talks to Jira and Confluence through the two ports
(`followup.ports`), never through an HTTP client: leases, owner look-ups, creates,
field updates, transitions, properties and the page write. It decides nothing the plan
did not say.
"""
