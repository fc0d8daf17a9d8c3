"""``newsmon web``: the review desk, a small server-rendered web app over the store."""

from monitor.desk.app import create_app
from monitor.desk.server import serve

__all__ = ["create_app", "serve"]
