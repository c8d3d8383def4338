"""The joining stage: how a blog joins Voice and how its member manages it.

discovery  pure: the feeds a web page advertises, its platform, the order to try them
trial      fetch (guarded), discover, parse (in the limited pool) and tag, storing nothing
preview    a Trial as lines of text for `voice try` and `voice add`
"""
