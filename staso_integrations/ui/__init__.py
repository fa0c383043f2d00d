"""``staso-integrations ui``: a local, read-only web viewer over the SQLite trace store.

Standard library only (``http.server`` + ``sqlite3``); the pages are plain HTML, CSS and
JavaScript modules shipped in ``static/``, with no build step and nothing fetched from the network.
"""

from __future__ import annotations

from ._server import ViewerServer, serve

__all__ = ["ViewerServer", "serve"]
