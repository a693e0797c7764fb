"""The commands that drive the whole PBX (``run``, ``demo``, ``check``, ``backup``,
``restore``): an edge, like the portal and the API, so it may use every domain app while
``core`` uses none."""
