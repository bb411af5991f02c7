"""Console sockets end when their account is logged out, disabled or moved to another unit."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
from sqlalchemy import text

from tests.helpers import wait_for
from tests.test_thin_path import _socket, _token

pytestmark = pytest.mark.integration


def test_logout_revokes_tokens_and_disconnects_sockets(server, make_user):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    token = _token(base, "duty")
    client, _ = _socket(base, token)
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{base}/api/v1/tickets", headers=headers, timeout=10).status_code == 200
    assert requests.post(f"{base}/api/v1/auth/logout", headers=headers, timeout=10).status_code == 200
    assert requests.get(f"{base}/api/v1/tickets", headers=headers, timeout=10).status_code == 401
    wait_for(lambda: not client.connected, 15, what="the socket to be disconnected")
    fresh = _token(base, "duty")  # logging in again works
    assert requests.get(f"{base}/api/v1/tickets", headers={"Authorization": f"Bearer {fresh}"},
                        timeout=10).status_code == 200


@pytest.mark.parametrize("change", ["disable", "move"])
def test_a_changed_account_loses_its_socket(server, make_user, engine, settings, change):
    base, _ = server
    make_user("nanguan", "department", unit="220102-CMD")
    client, _ = _socket(base, _token(base, "nanguan"))
    make_user("bystander", "operator")
    other, _ = _socket(base, _token(base, "bystander"))
    try:
        with engine.begin() as conn:
            if change == "move":  # moved to another district's centre: its room was unit:220102-CMD
                conn.execute(text("UPDATE users SET unit_code = '220104-CMD' WHERE username = 'nanguan'"))
        if change == "disable":
            done = subprocess.run([sys.executable, "-m", "yunguan.cli", "users", "disable", "nanguan"],
                                  env=dict(os.environ, YUNGUAN_DATABASE_URL=settings.database_url),
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        wait_for(lambda: not client.connected, 15, what="the changed account's socket to be disconnected")
        assert other.connected, "other accounts keep their sockets"
    finally:
        other.disconnect()
