"""The `notifications:` section of the YAML (and `storage.spool`), validated like the rest of vigil/config.py:
unknown keys rejected, every field titled and described. Secrets are `SecretStr`: never logged, never shown.

Kept apart from vigil/config.py (which imports it) so that file stays small; the base class is repeated here
rather than imported, so the two modules do not import each other."""
from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

KINDS: tuple[str, ...] = ("event.opened", "event.updated", "event.ended", "event.reviewed", "camera.status",
                          "hazard.opened", "hazard.changed", "hazard.escalated", "complaint.received")
Kind = Literal["event.opened", "event.updated", "event.ended", "event.reviewed", "camera.status",
               "hazard.opened", "hazard.changed", "hazard.escalated", "complaint.received"]
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def F(default: Any = ..., *, title: str, description: str, **kw: Any) -> Any:
    return Field(default, title=title, description=description, **kw)


class Filters(_Strict):
    kinds: list[Kind] | None = F(None, title="Kinds", description=(
        "Only these notification kinds (event.opened, event.updated, event.ended, event.reviewed, camera.status, "
        "hazard.opened, hazard.changed, hazard.escalated, complaint.received); "
        "null: all."), min_length=1)
    institutions: list[str] | None = F(None, title="Institutions", description=(
        "Only notifications about these institution ids; null: all."), min_length=1)
    regions: list[str] | None = F(None, title="Regions", description=(
        "Only notifications about institutions in these region paths (each with everything below it); null: all. "
        "With institutions too, either one matching is enough."), min_length=1)


class Retry(_Strict):
    max_attempts: int = F(8, title="Maximum attempts", description=(
        "Tries of one notification before it becomes a dead letter (visible in the API, redeliverable); later "
        "notifications wait behind it meanwhile, so the receiver sees them in order."), ge=1, le=100)
    initial_s: float = F(2.0, title="First retry after (s)", description=(
        "Wait before the second try; each further wait doubles (exponential backoff)."), gt=0, le=3600)
    max_s: float = F(300.0, title="Longest wait (s)", description="Backoff waits never exceed this.", gt=0, le=86400)


class WebhookConfig(_Strict):
    name: str = F(title="Name", description="Stable name of this receiver (letters, digits, '-', '_'): its delivery "
                                            "progress is kept under it.", pattern=NAME_PATTERN)
    url: str = F(title="URL", description="http(s):// URL that receives each notification as a JSON POST.")
    secret: SecretStr = F(title="Signing secret", description=(
        "Key of the HMAC-SHA256 signature: header X-Vigil-Signature: sha256=<hex of HMAC(secret, "
        "'<X-Vigil-Timestamp>.' + body)>. At least 16 characters; never logged or shown."), min_length=16)
    timeout_s: float = F(5.0, title="Timeout (s)", description="An answer must come within this long, else the try "
                                                               "failed.", gt=0, le=120)
    filters: Filters = F(default_factory=Filters, title="Filters", description="Which notifications go here.")
    retry: Retry = F(default_factory=Retry, title="Retry", description="Attempts and backoff.")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("needs an http:// or https:// URL with a host")
        return v


class MqttConfig(_Strict):
    host: str = F("127.0.0.1", title="Broker host", description="MQTT broker (e.g. the machine's Mosquitto).",
                  min_length=1)
    port: int = F(1883, title="Broker port", description="MQTT broker port.", ge=1, le=65535)
    username: str | None = F(None, title="Username", description="Broker login; null: anonymous.")
    password: SecretStr | None = F(None, title="Password", description="Broker password; never logged or shown.")
    topic_prefix: str = F("vigil", title="Topic prefix", description=(
        "Topics are <prefix>/events (one message per event notification) and <prefix>/cameras/<id>/status "
        "(retained: online/offline)."), pattern=r"^[^#+\x00]{1,64}$")
    client_id: str | None = F(None, title="Client id", description="MQTT client id; null: vigil-<random>.",
                              pattern=r"^[A-Za-z0-9_-]{1,64}$")
    keepalive_s: int = F(30, title="Keepalive (s)", description="MQTT keepalive interval.", ge=5, le=3600)
    timeout_s: float = F(5.0, title="Timeout (s)", description="The broker must acknowledge (QoS 1 PUBACK) within "
                                                               "this long, else the try failed.", gt=0, le=120)
    filters: Filters = F(default_factory=Filters, title="Filters", description="Which notifications go to MQTT.")
    retry: Retry = F(default_factory=Retry, title="Retry", description="Attempts and backoff.")

    @model_validator(mode="after")
    def _login(self) -> "MqttConfig":
        if self.password is not None and self.username is None:
            raise ValueError("password: needs a username too")
        return self


class NotificationsConfig(_Strict):
    webhooks: list[WebhookConfig] = F(default_factory=list, title="Webhooks", description=(
        "HTTP receivers of signed JSON notifications."))
    mqtt: MqttConfig | None = F(None, title="MQTT", description="Publish notifications to an MQTT broker; null: off.")
    poll_interval_s: float = F(1.0, title="Poll interval (s)", description=(
        "How often the dispatcher looks for notifications written by other processes (it wakes at once for its "
        "own)."), gt=0, le=60)
    stream_max_s: float = F(300.0, title="Stream lifetime (s)", description=(
        "A server-sent-events connection is closed after this long; the browser reconnects with Last-Event-ID and "
        "loses nothing (the caller's credentials and scope are checked again)."), gt=0, le=86400)
    keepalive_s: float = F(15.0, title="Stream keep-alive (s)", description=(
        "A comment line goes out on an idle event stream this often (proxies close silent connections)."),
        gt=0, le=300)
    keep_days: float = F(30.0, title="Keep (days)", description=(
        "Notifications every channel has passed are deleted after this long (dead letters are kept)."), gt=0)

    @model_validator(mode="after")
    def _unique(self) -> "NotificationsConfig":
        names = [w.name for w in self.webhooks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"webhooks: names must be unique, repeated: {dup}")
        return self


class SpoolConfig(_Strict):
    max_mb: float = F(64.0, title="Maximum size (MB)", description=(
        "Event writes that could not reach the database wait on disk (storage.data_dir/spool) up to this size; "
        "beyond it the oldest updates go first, then evidence pictures, event openings and closings last "
        "(logged, counted in vigil_spool_dropped_total)."), gt=0)
    retry_max_s: float = F(5.0, title="Longest retry wait (s)", description=(
        "While the database is unreachable it is tried again after 0.5 s, doubling up to this."), gt=0, le=300)
    write_wait_s: float = F(5.0, title="Longest wait for one event write (s)", description=(
        "A camera's event write that the database has not answered within this goes to the spool instead, and so "
        "do the writes after it until the database answers again: a database that holds the connection but does "
        "not answer (a link gone silent, a server stuck on a lock) never stops the cameras' rules for longer."),
        gt=0, le=120)
