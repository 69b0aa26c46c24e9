"""Cache-Control of content responses: who may keep a copy.

Content no restricted model references is open and immutable (named by its CID): any cache may
keep it for a year. Content that needed a session must not be kept by a shared cache (it would
hand the bytes to the next caller without asking who they are), nor by the browser's cache.
"""

from __future__ import annotations

from typing import Final

OPEN_CACHING: Final = "public, max-age=31536000, immutable"
RESTRICTED_CACHING: Final = "private, no-store"
