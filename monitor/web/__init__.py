"""``newsmon web``: the review desk, a small server-rendered web app over the store."""

from monitor.web.app import create_app
from monitor.web.server import serve

__all__ = ["create_app", "serve"]
