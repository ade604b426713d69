"""The sandbox's Jira API, being split by resource out of `followup/sandbox/jira_api.py`.

`base` holds what every resource shares; `jira_api` still holds issues, search, users
and projects, and mounts the routes of every module here.
"""
