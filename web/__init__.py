"""Flask app factory, JSON API, Socket.IO and pages."""
