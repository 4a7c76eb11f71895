"""A handler module's imports without the cyclic garbage collector.

A cold start is mostly the import of the function's handler module: Powertools, pydantic and its
models, psycopg, the function's own modules. That creates 75,000-90,000 objects the collector
tracks (OutboxRelayFunction, ApiFunction), nearly all living as long as the process, and CPython's
collector traverses them again and again while they are being created (a young-generation pass
every 700 allocations, older ones as those pile up), freeing next to nothing. So each handler
module (`functions/*/app.py`) imports this module FIRST, which pauses collection, and calls
`loaded()` as its last statement: the objects alive then move to the permanent generation
(`gc.freeze()`, so the collections of warm invocations skip them too) and collection resumes as
it was.

Importing the module is what pauses (a handler module cannot run a statement before its imports);
only the first import does, only the first `loaded()` after it freezes and resumes (a test process
importing several handler modules freezes once), and `loaded()` never turns on a collector that was
off before. A handler import that fails leaves collection paused: Lambda discards that execution
environment.
"""

from __future__ import annotations

import gc

_was_enabled = gc.isenabled()
_paused = True
gc.disable()


def loaded() -> None:
    """The handler module is imported: freeze what exists and let the collector run again."""
    global _paused
    if not _paused:
        return
    _paused = False
    gc.freeze()
    if _was_enabled:
        gc.enable()
