"""Settings from ``CASEPUSH_*`` environment variables and an optional TOML file (environment wins)."""

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

ENV_PREFIX = "CASEPUSH_"
#: The newest Kibana release whose API casepush follows: its connector messages are 9.0-9.2's
#: (9.3 moved connector validation to zod) and its Cases API that of 8.17+/9.x.
KIBANA_VERSION = "9.2.0"
#: ``major.minor.patch`` with an optional pre-release suffix (``9.3.0-SNAPSHOT``, ``9.0.0-beta1``).
_KIBANA_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$")


class PreconfiguredConnector(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A connector declared in the settings file, as Kibana's ``xpack.actions.preconfigured``."""

    connector_type_id: str
    name: str
    config: dict[str, Any] = {}
    secrets: dict[str, Any] = {}


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    data_dir: str = "./data"
    database_url: str | None = None
    #: Connections to PostgreSQL per instance.
    database_pool_size: int = 10
    #: Connections reading a SQLite file at once (besides its one writer); more reads wait for one.
    sqlite_readers: int = 4
    elastic_password: str | None = None
    encryption_key: str | None = None
    #: Earlier encryption keys, used only to decrypt (Kibana's ``keyRotation.decryptionOnlyKeys``).
    decryption_only_keys: list[str] = []
    allowed_hosts: list[str] = msgspec.field(default_factory=lambda: ["*"])
    public_base_url: str | None = None
    load_plugins: list[str] | None = None
    response_timeout: float = 60.0
    #: Largest response body a connector call may read (Kibana's ``maxResponseContentLength``).
    max_response_bytes: int = 1024 * 1024
    #: TLS checks of connector calls (Kibana's ``xpack.actions.ssl.verificationMode``).
    verification_mode: Literal["full", "certificate", "none"] = "full"
    #: Seconds a push holds its claim on a case and connector without renewing it; a claim left by a
    #: crashed process is taken over (and its interrupted create looked up) after this long.
    push_lease: float = 60.0
    #: Connectors declared here, by id; read-only through the API. Only from the settings file.
    preconfigured: dict[str, PreconfiguredConnector] = {}
    host: str = "127.0.0.1"
    port: int = 5601
    #: ``serve``'s log lines: plain text, or one JSON object per line for log collectors.
    log_format: Literal["text", "json"] = "text"
    #: Seconds ``serve`` waits, after SIGTERM, for requests in progress (pushes) to finish.
    shutdown_timeout: float = 30.0
    #: Largest request body (Kibana's ``server.maxPayload``).
    max_payload_bytes: int = 1024 * 1024
    #: Seconds a client may take to send a request body (Kibana's ``server.payloadTimeout``).
    payload_timeout: float = 20.0
    #: Seconds a connection may take to send a request's line and headers, from its opening or from its
    #: previous response; so also how long an idle keep-alive connection is kept.
    header_timeout: float = 75.0
    #: Failed logins of one account from one client address, then 429s until the window passes.
    login_max_failures: int = 10
    #: Failed logins from one client address, whatever the accounts.
    login_max_client_failures: int = 100
    #: Seconds the failed logins are counted over, from the first one.
    login_failure_window: float = 300.0
    #: Addresses (or networks) of reverse proxies whose ``X-Forwarded-For`` names the client.
    trusted_proxies: list[str] = []
    #: Seconds a login to the web UI (``/app``) lasts; then its session cookie is refused.
    ui_session_timeout: float = 8 * 3600
    #: The Kibana version whose API casepush follows, reported as ``version.number`` by ``/api/status``
    #: (clients gate features on it); a ``-SNAPSHOT`` suffix reports a snapshot build, as Kibana does.
    kibana_version: str = KIBANA_VERSION
    #: Seconds after a case's latest change before its automatic push, unless its setting says otherwise:
    #: a burst of edits makes one push.
    automatic_push_quiet_period: float = 5.0
    #: Whether this instance runs due automatic pushes (every instance on a database may).
    automatic_push_worker: bool = True
    #: Seconds between this instance's looks for due automatic pushes.
    automatic_push_poll_interval: float = 1.0
    #: Automatic pushes this instance runs at once.
    automatic_push_concurrency: int = 4
    #: Attempts of an automatic push whose external system fails, before it is left failed.
    automatic_push_max_attempts: int = 8
    #: Seconds before the first retry of a failed automatic push; each next one waits twice as long
    #: (with jitter, and at least the external system's ``Retry-After``), up to the maximum.
    automatic_push_backoff: float = 10.0
    automatic_push_max_backoff: float = 3600.0
    #: Whether this instance polls external systems for changes (two-way sync; every instance may).
    sync_poll_worker: bool = True
    #: Polls this instance runs at once.
    sync_poll_concurrency: int = 2
    #: The largest body of a call of a connector's inbound webhook, in bytes.
    sync_inbound_max_bytes: int = 1_048_576
    #: Calls per second of one connector's inbound webhook, on average (ten seconds' worth at once).
    sync_inbound_rate: float = 20.0
    #: Seconds a call of an inbound webhook may be older (or newer) than now: a replay beyond is refused.
    #: Jira Cloud retries a failed delivery, with the same body, for about 30 minutes.
    sync_inbound_max_age: float = 3600.0
    #: Seconds the ids of applied external changes are kept (a change seen again within is applied once).
    sync_changes_retention: float = 30 * 86_400.0

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file: ``casepush.db`` in the data dir, or the URL's path.

        As in SQLAlchemy, ``sqlite:///cases.db`` is relative and ``sqlite:////srv/cases.db`` absolute.
        """
        url = self.database_url
        if url is None:
            return Path(self.data_dir) / "casepush.db"
        if not url.startswith("sqlite:///"):
            raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path/file.db")
        return Path(url.removeprefix("sqlite:///"))


_LIST_SETTINGS = {"allowed_hosts", "load_plugins", "decryption_only_keys", "trusted_proxies"}
#: Limits that must be positive.
_POSITIVE_SETTINGS = (
    "sqlite_readers",
    "max_payload_bytes",
    "payload_timeout",
    "header_timeout",
    "login_max_failures",
    "login_max_client_failures",
    "login_failure_window",
    "automatic_push_poll_interval",
    "automatic_push_concurrency",
    "automatic_push_max_attempts",
    "automatic_push_backoff",
    "automatic_push_max_backoff",
    "sync_poll_concurrency",
    "sync_inbound_max_bytes",
    "sync_inbound_rate",
    "sync_inbound_max_age",
    "sync_changes_retention",
)
#: Settings that are structured and so come only from the settings file.
_FILE_ONLY_SETTINGS = {"preconfigured"}


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: str | os.PathLike | None = None
) -> Settings:
    """Merge the TOML file (if any) with ``CASEPUSH_*`` variables, the environment winning."""
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    if config_file is not None:
        with open(config_file, "rb") as fh:
            raw.update(tomllib.load(fh))
    for field in msgspec.structs.fields(Settings):
        if field.name in _FILE_ONLY_SETTINGS:
            continue
        value = environ.get(ENV_PREFIX + field.name.upper())
        if value is None:
            continue
        raw[field.name] = _split(value) if field.name in _LIST_SETTINGS else value
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid setting: {exc}") from None
    for key in filter(None, [settings.encryption_key, *settings.decryption_only_keys]):
        if len(key) < 32:
            raise ConfigError(
                "CASEPUSH_ENCRYPTION_KEY and CASEPUSH_DECRYPTION_ONLY_KEYS must be at least 32 characters"
            )
    _check_limits(settings)
    if not _KIBANA_VERSION.match(settings.kibana_version):
        version = settings.kibana_version
        raise ConfigError(
            f"{ENV_PREFIX}KIBANA_VERSION: {version!r} is not a version such as {KIBANA_VERSION}"
        )
    return settings


def _check_limits(settings: Settings) -> None:
    for name in _POSITIVE_SETTINGS:
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be greater than 0")
    for proxy in settings.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(
                f"{ENV_PREFIX}TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
            ) from None


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
