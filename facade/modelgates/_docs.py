"""The async client's methods are documented once, on their sync twins.

``AsyncModelGates`` and ``AsyncVideos`` take the same arguments and raise the same errors
as ``ModelGates`` and ``Videos``; only ``await`` differs. Writing each docstring twice would
let the two drift, so the async classes copy theirs from the sync ones at import time (and
``help()``, IDEs and the API reference show the same text for both).
"""

from __future__ import annotations


def share_docstrings(async_class: type, sync_class: type) -> None:
    """Give every public method and property of ``async_class`` the docstring of the
    ``sync_class`` member of the same name."""
    for name, member in list(vars(async_class).items()):
        twin = vars(sync_class).get(name)
        if name.startswith("_") or twin is None:
            continue
        doc = twin.__doc__
        if isinstance(member, property):
            setattr(async_class, name, property(member.fget, member.fset, member.fdel, doc))
        elif callable(member):
            member.__doc__ = doc
