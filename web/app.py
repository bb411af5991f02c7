"""The Flask app factory: everything comes in through `deps`; nothing is read from globals."""
from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect

from web import api, api_docs, errors, health, hygiene, open311, pages, pwa, security, sockets

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{tiles}; "
    "connect-src 'self' ws: wss:; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def tile_origin(tile_url: str) -> str:
    """The origin a tile URL template loads images from, as a CSP source ({s} subdomains become *)."""
    if not tile_url.startswith(("https://", "http://")):
        return ""  # a path on this server: 'self' covers it
    scheme, _, rest = tile_url.partition("://")
    host = rest.split("/", 1)[0].replace("{s}", "*")
    return f"{scheme}://{host}"


def create_app(deps, routing, *, relay_events: bool = True) -> tuple[Flask, SocketIO]:
    """`deps` carries settings, engine, topics, clock and a lazy producer; `routing` returns the
    current RoutingContext (the same cache type the worker uses)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=deps.settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_AS_ASCII=False,
        # Every photo of one report at its limit, plus the form around them; more is refused with 413.
        MAX_CONTENT_LENGTH=deps.settings.upload_max_files * deps.settings.upload_max_bytes + 1024 * 1024,
    )
    app.json.ensure_ascii = False
    app.config["YUNGUAN_TILE_URL"] = deps.settings.tile_url
    app.config["YUNGUAN_TILE_ATTRIBUTION"] = deps.settings.tile_attribution
    origin = tile_origin(deps.settings.tile_url)
    csp = CSP.format(tiles=f" {origin}" if origin else "")
    app.extensions["yunguan"] = deps
    app.extensions["yunguan_routing"] = routing

    csrf = CSRFProtect(app)
    csrf.exempt(api.bp)  # the API's forms are programs with bearer tokens; cookie writes are checked below
    csrf.exempt(open311.bp)  # Open311 clients authenticate with api_key, never with the page session
    app.before_request(security.check_api_csrf)
    errors.register(app)
    hygiene.register(app)  # after app.json is set up: keeps its settings; before any view sees input
    if deps.settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=deps.settings.trusted_proxies, x_proto=1)
    app.register_blueprint(api.bp)
    app.register_blueprint(api_docs.docs_bp)  # /api/docs: the OpenAPI document as a page (decision 0018)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(open311.bp)
    app.register_blueprint(pwa.bp)
    limiter = Limiter(
        get_remote_address, app=app, storage_uri=deps.settings.rate_limit_storage, default_limits=[],
        headers_enabled=True,
    )
    # Only anonymous (resident) submissions are limited; staff channels are authenticated.
    app.view_functions["api.submit_report"] = limiter.limit(
        deps.settings.public_rate_limit,
        exempt_when=lambda: request.headers.get("Authorization", "").startswith("Bearer "),
    )(app.view_functions["api.submit_report"])
    # Residents' look-ups by ticket number (the /track page and GET /api/v1/tickets/<no>) share one budget
    # per client, so the sequential numbers cannot be walked; staff with bearer tokens (the consoles) are not
    # limited. A look-up by receipt (report_id, unguessable) is not limited: decision 0011.
    track = limiter.shared_limit(
        deps.settings.track_rate_limit, scope="track",
        exempt_when=lambda: request.headers.get("Authorization", "").startswith("Bearer "),
    )
    for view in ("api.get_ticket", "pages.track"):
        app.view_functions[view] = track(app.view_functions[view])

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    settings = deps.settings
    queue = {}
    if settings.socketio_queue == "kafka":  # several web processes share one Socket.IO message queue
        from web.socket_queue import KafkaQueue

        queue["client_manager"] = KafkaQueue(settings.kafka_bootstrap, deps.topics.socketio)
    socketio = SocketIO(app, async_mode="threading", cors_allowed_origins=[], logger=False, engineio_logger=False,
                        **queue)
    sweep = sockets.SocketSweep(socketio, deps.engine)
    sockets.register(socketio, sweep)
    app.extensions["yunguan_sweep"] = sweep
    bridge = sockets.EventBridge(
        socketio, settings.kafka_bootstrap, deps.topics.ticket_events,
        group=f"{settings.topic_prefix}yunguan-web" if queue else None,
        session_timeout_ms=settings.session_timeout_ms, max_poll_interval_ms=settings.max_poll_interval_ms,
    )
    app.extensions["yunguan_bridge"] = bridge
    if relay_events:
        bridge.start()
        sweep.start()
    return app, socketio
