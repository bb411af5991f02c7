"""One frozen Settings object, read once per process and passed to whatever needs it.

Precedence: environment (YUNGUAN_<KEY>), then the TOML file named by YUNGUAN_CONFIG, then
config/defaults.toml. A value that cannot be converted names its key and its source.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the key and where it came from."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    app_database_url: str
    audit_key: str
    totp_key: str
    audit_checkpoints: str
    audit_checkpoint_every_s: float
    kafka_bootstrap: str
    secret_key: str
    timezone: str
    state_dir: str
    topic_partitions: int
    topic_prefix: str
    worker_group: str
    worker_batch_size: int
    max_poll_interval_ms: int
    session_timeout_ms: int
    ticket_prefix: str
    nearest_tolerance_m: float
    border_flag_m: float
    public_rate_limit: str
    rate_limit_storage: str
    trusted_proxies: int
    track_rate_limit: str
    login_window_s: int
    login_max_account_failures: int
    login_max_address_failures: int
    login_max_account_total_failures: int
    login_known_address_days: int
    require_2fa_roles: str
    allowed_origins: str
    metrics_token: str
    media_dir: str
    upload_max_bytes: int
    upload_max_files: int
    upload_max_pixels: int
    reconcile_grace_s: float
    breaker_window: int
    breaker_threshold: float
    working_hours: str
    calendar_beyond_library: str
    calendar_extra_holidays: str
    calendar_extra_workdays: str
    web_host: str
    web_port: int
    socketio_queue: str
    tile_url: str
    tile_attribution: str
    future_skew_s: float
    poison_tries: int
    heartbeat_s: float
    stuck_after_s: float
    group_recovery: bool
    leave_settle_s: float
    broker_retry_after_s: float
    worker_metrics_port: int
    evaluation_weights: str
    evaluation_board_size: int
    evaluation_min_dispatched: int
    lifeline_group: str
    lifeline_retention_days: int
    lifeline_offline_every_s: float
    lifeline_batch_size: int
    lifeline_linger_ms: int
    notify_group: str
    notify_max_attempts: int
    notify_backoff_s: float
    notify_backoff_max_s: float
    notify_timeout_s: float
    notify_poll_s: float
    notify_templates: str
    notify_unit_contacts: str
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_password: str
    smtp_from: str
    smtp_starttls: bool
    sms_gateway_url: str
    sms_gateway_token: str
    exchange_url: str
    exchange_secret: str
    exchange_batch: int
    exchange_timeout_s: float
    exchange_attempts: int
    exchange_backoff_s: float

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir).expanduser().resolve()

    @property
    def audit_checkpoints_path(self) -> Path:
        """Where signed history checkpoints are appended (store.audit); empty setting: under state_dir."""
        if self.audit_checkpoints:
            return Path(self.audit_checkpoints).expanduser().resolve()
        return self.state_path / "audit" / "checkpoints.jsonl"

    @property
    def media_path(self) -> Path:
        return Path(self.media_dir).expanduser().resolve()


def _check_exchange(kwargs: dict[str, Any]) -> None:
    """The data exchange's settings (docs/exchange.md): an endpoint is optional (push then refuses with exit 2),
    but one that is set is http(s), and is never sent unsigned."""
    url = kwargs["exchange_url"]
    if url and not url.startswith(("https://", "http://")):
        raise SettingsError("setting 'exchange_url' must be an http(s) URL (or empty: no exchange)")
    if url and not kwargs["exchange_secret"]:
        raise SettingsError("setting 'exchange_secret' must be set with 'exchange_url': every push is signed")
    if not 1 <= kwargs["exchange_batch"] <= 5000:
        raise SettingsError("setting 'exchange_batch' must be 1 to 5000 cases")
    if kwargs["exchange_timeout_s"] <= 0 or kwargs["exchange_backoff_s"] < 0 or kwargs["exchange_attempts"] < 1:
        raise SettingsError("settings 'exchange_timeout_s' must be above 0, 'exchange_backoff_s' at least 0 and "
                            "'exchange_attempts' at least 1")


def _defaults() -> dict[str, Any]:
    text = resources.files("config").joinpath("defaults.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _coerce(key: str, value: Any, target: type, source: str) -> Any:
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if target is int and isinstance(value, bool):
            raise ValueError(value)
        return target(value)
    except (TypeError, ValueError):
        raise SettingsError(
            f"setting {key!r} from {source} must be {target.__name__}, got {value!r}"
        ) from None


_HOURS = re.compile(r"\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*(,\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*)*")
_DATES = re.compile(r"\s*(\d{4}-\d{2}-\d{2}\s*(,\s*\d{4}-\d{2}-\d{2}\s*)*)?")


def _check_calendar(values: dict[str, Any]) -> None:
    """The working-time keys' shape; dispatch.worktime checks the values themselves (order, real dates)."""
    if not _HOURS.fullmatch(values["working_hours"]):
        raise SettingsError("setting 'working_hours' must look like '08:30-12:00,13:00-17:30'")
    if values["calendar_beyond_library"] not in ("approximate", "error"):
        raise SettingsError("setting 'calendar_beyond_library' must be 'approximate' or 'error'")
    for key in ("calendar_extra_holidays", "calendar_extra_workdays"):
        if not _DATES.fullmatch(values[key]):
            raise SettingsError(f"setting {key!r} must be comma-separated dates YYYY-MM-DD")


# The contract's roles (§1): a copy of dispatch.vocabulary.ACCOUNT_ROLES, because config sits below dispatch
# and cannot import it; tests/test_vocabulary.py fails when the two differ.
_ROLES = ("admin", "operator", "department", "grid", "hotline")
_ORIGIN = re.compile(r"https?://[^/\s,]+")


def _check_web_security(values: dict[str, Any]) -> None:
    """Login limits, the roles that need a second factor and the extra socket origins (decision 0011)."""
    for key in ("login_window_s", "login_max_account_failures", "login_max_address_failures",
                "login_max_account_total_failures", "login_known_address_days"):
        if values[key] < 1:
            raise SettingsError(f"setting {key!r} must be at least 1")
    for role in filter(None, (r.strip() for r in values["require_2fa_roles"].split(","))):
        if role not in _ROLES:
            raise SettingsError(f"setting 'require_2fa_roles' names {role!r}; roles are {', '.join(_ROLES)}")
    for origin in filter(None, (o.strip() for o in values["allowed_origins"].split(","))):
        if not _ORIGIN.fullmatch(origin):
            raise SettingsError(f"setting 'allowed_origins' has {origin!r}; write scheme://host[:port]")


# The evaluation's weight names: a copy of dispatch.kpi.WEIGHT_RATES's keys (config sits below dispatch);
# tests/test_evaluation_v1.py fails when the two differ. dispatch.kpi.parse_weights reads the values.
_WEIGHTS = ("on_time", "close", "ack", "overdue", "rework", "return", "extension")
_WEIGHT = re.compile(r"\s*([a-z_]+)\s*=\s*([0-9]+(?:\.[0-9]*)?)\s*")


def _check_evaluation(values: dict[str, Any]) -> None:
    """综合评价 (docs/evaluation.md): weights `name=number,...` of known names, not all zero; board sizes."""
    weights = values["evaluation_weights"]
    total = 0.0
    for part in weights.split(","):
        found = _WEIGHT.fullmatch(part)
        if found is None or found[1] not in _WEIGHTS:
            raise SettingsError(f"setting 'evaluation_weights' has {part.strip()!r}; write name=number with names "
                                f"{', '.join(_WEIGHTS)}")
        total += float(found[2])
    if total <= 0:
        raise SettingsError("setting 'evaluation_weights' needs at least one weight above zero")
    if values["evaluation_board_size"] < 1 or values["evaluation_min_dispatched"] < 1:
        raise SettingsError("settings 'evaluation_board_size' and 'evaluation_min_dispatched' must be at least 1")


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings; `overrides` win over everything (used by tests and the CLI)."""
    env = os.environ if environ is None else environ
    values: dict[str, tuple[Any, str]] = {k: (v, "defaults.toml") for k, v in _defaults().items()}

    config_file = env.get("YUNGUAN_CONFIG")
    if config_file:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"YUNGUAN_CONFIG names {path}, which does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"YUNGUAN_CONFIG file {path} is not valid TOML: {exc}") from None
        for key, value in data.items():
            values[key] = (value, str(path))

    fields = {f.name: f for f in dataclasses.fields(Settings)}
    unknown = set(values) - set(fields)
    if unknown:
        raise SettingsError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(fields)}")

    for name in fields:
        env_key = f"YUNGUAN_{name.upper()}"
        if env_key in env:
            values[name] = (env[env_key], f"environment {env_key}")
    for name, value in overrides.items():
        if name not in fields:
            raise SettingsError(f"unknown setting {name!r}")
        values[name] = (value, "override")

    kwargs: dict[str, Any] = {}
    hints = {"int": int, "str": str, "float": float, "bool": bool}
    for name, field in fields.items():
        if name not in values:
            raise SettingsError(f"setting {name!r} has no value")
        raw, source = values[name]
        kwargs[name] = _coerce(name, raw, hints[str(field.type)], source)

    if not kwargs["audit_key"] and kwargs["secret_key"]:
        # Derived before a missing secret_key is replaced by a random one: a per-process key could never
        # verify another process's checkpoints (store.audit then keeps a key file under state_dir).
        kwargs["audit_key"] = hmac.new(kwargs["secret_key"].encode(), b"yunguan audit checkpoints",
                                       hashlib.sha256).hexdigest()
    if not kwargs["totp_key"] and kwargs["secret_key"]:  # the same reason: every process must open them
        kwargs["totp_key"] = kwargs["secret_key"]  # store.sealing derives its own key from it
    if not kwargs["secret_key"]:
        kwargs["secret_key"] = secrets.token_hex(32)
    if kwargs["topic_partitions"] < 1:
        raise SettingsError("setting 'topic_partitions' must be at least 1")
    if kwargs["lifeline_batch_size"] < 1 or not 0 <= kwargs["lifeline_linger_ms"] <= 5000:
        raise SettingsError("setting 'lifeline_batch_size' must be at least 1 and 'lifeline_linger_ms' 0–5000")
    _check_calendar(kwargs)
    _check_web_security(kwargs)
    _check_evaluation(kwargs)
    if kwargs["notify_max_attempts"] < 1 or kwargs["notify_backoff_s"] <= 0 or kwargs["notify_timeout_s"] <= 0:
        raise SettingsError("settings 'notify_max_attempts' must be at least 1, 'notify_backoff_s' and "
                            "'notify_timeout_s' above 0")
    _check_exchange(kwargs)
    if kwargs["socketio_queue"] not in ("", "kafka"):
        raise SettingsError("setting 'socketio_queue' must be '' (each web process relays every event) or 'kafka'")
    tile = kwargs["tile_url"]
    if tile and not (tile.startswith(("https://", "http://")) or (tile.startswith("/") and not tile.startswith("//"))):
        raise SettingsError("setting 'tile_url' must be an http(s) URL template or a path on this server")
    return Settings(**kwargs)
