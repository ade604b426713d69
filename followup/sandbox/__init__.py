"""A local stand-in for a Jira + Confluence site (Cloud or Data Center), for demos and
tests: a real HTTP server over SQLite that speaks the REST subsets followup uses.

Not part of the product's sync path, which never imports it: the sync talks to it
over HTTP exactly as it talks to a real site. See docs/sandbox.md.

    server.py      serve, start_in_thread, open_state; `python -m` entry
    app.py         create_app: every module's routes, the middleware in front
    control.py     /_sandbox/*: reset, seed, faults, request counts; the lifecycle
    faults.py      fault configuration and decisions
    state.py       SandboxState: the database, its lock, the flavor, the users
    dataset.py     what a seed is (plain data);  seed.py  the demo and synthetic ones
    jira/          the Jira REST API, one module per resource (jira/__init__.py)
    confluence/    the Confluence REST API, one module per resource
    querylang.py   the lexer and parser JQL (jira/jql.py) and CQL (confluence/cql.py)
                   share
    views.py       HTML pages for people;  storage_html.py  a page body as HTML
"""
