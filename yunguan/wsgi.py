"""WSGI entry for production servers: `gunicorn -w 1 --threads 100 yunguan.wsgi:app`.

Building the app here at import is the point of this module (the server imports it once).
"""
from application.routing import RoutingCache
from config import load_settings
from web.app import create_app
from yunguan.wiring import build

_deps = build(load_settings())
app, socketio = create_app(_deps, RoutingCache.from_settings(_deps.engine, _deps.settings))
