"""The joining stage: how a blog joins Voice and how its member manages it.

discovery  pure: the feeds a web page advertises, its platform, the order to try them
trial      fetch (guarded), discover, parse (in the limited pool) and tag, storing nothing
verdict    pure: which working feed to choose and why; problems and advice in plain English
preview    a Trial as lines of text for `voice try` and `voice add`
fields     a member's form and change fields, validated (FieldError names the field)
submissions  the submissions file: join and change requests, member and verification tokens
moderation approve and reject into feeds.yaml; list pending requests with their checks
members    the status link: a member's view of their blog, changes, take-down, verification
opml       read an OPML file's blogs safely and queue (or add) each one
"""
