"""Delivery channels of the notification dispatcher: signed webhooks (httpx) and MQTT (paho-mqtt).

Each channel has a stable `name` (its progress in `outbox_channels` is kept under it), `accepts(n)` (its filters),
`send(n)` (raises `DeliveryError` when the receiver did not take it) and `close()`. Secrets (the webhook key, the
broker password, a password inside a URL) appear in no log line and no error text.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from typing import Protocol

import httpx

from vigil.access import region_covers
from vigil.config import redact_url
from vigil.outbox.config import Filters, MqttConfig, Retry, WebhookConfig
from vigil.outbox.messages import Notification

log = logging.getLogger("vigil.outbox")

SIGNATURE = "X-Vigil-Signature"
TIMESTAMP = "X-Vigil-Timestamp"
DELIVERY = "X-Vigil-Delivery"
KIND = "X-Vigil-Kind"


class DeliveryError(RuntimeError):
    """The receiver did not take the notification (the message is safe to store: no secret in it)."""


class Channel(Protocol):
    name: str
    retry: Retry

    def accepts(self, n: Notification) -> bool: ...

    def send(self, n: Notification) -> None: ...

    def close(self) -> None: ...


def passes(f: Filters, n: Notification) -> bool:
    if f.kinds is not None and n.kind not in f.kinds:
        return False
    if f.institutions is None and f.regions is None:
        return True
    if f.institutions is not None and n.institution_id in f.institutions:
        return True
    return f.regions is not None and n.region is not None and any(region_covers(r, n.region) for r in f.regions)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, timestamp + '.' + body): what X-Vigil-Signature carries."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """POST the notification's JSON envelope; 2xx within `timeout_s` is delivered, anything else a failed try.
    Headers: X-Vigil-Delivery (the delivery id: receivers dedupe by it), X-Vigil-Kind, X-Vigil-Timestamp (Unix
    seconds; receivers refuse old ones against replay) and X-Vigil-Signature (HMAC over timestamp and body)."""

    def __init__(self, cfg: WebhookConfig):
        self.cfg, self.retry = cfg, cfg.retry
        self.name = f"webhook:{cfg.name}"
        self.where = redact_url(cfg.url)
        self._client = httpx.Client(timeout=cfg.timeout_s, follow_redirects=False,
                                    headers={"User-Agent": "vigil-notifications/1"})

    def accepts(self, n: Notification) -> bool:
        return passes(self.cfg.filters, n)

    def send(self, n: Notification) -> None:
        body = n.body()
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json; charset=utf-8", DELIVERY: n.delivery_id, KIND: n.kind,
                   TIMESTAMP: ts, SIGNATURE: sign(self.cfg.secret.get_secret_value().encode(), ts, body)}
        try:
            r = self._client.post(self.cfg.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryError(f"no answer within {self.cfg.timeout_s:g} s from {self.where}") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__} posting to {self.where}: {_safe(exc)}") from None
        if not 200 <= r.status_code < 300:
            raise DeliveryError(f"{self.where} answered HTTP {r.status_code}")

    def close(self) -> None:
        self._client.close()


def _safe(exc: Exception) -> str:
    """The exception's text without any URL login in it."""
    from vigil.outbox.messages import scrub
    return str(scrub(str(exc)))[:300]


class MqttChannel:
    """Publishes with QoS 1 (delivered = the broker's PUBACK): event notifications to `<prefix>/events`, camera
    status to `<prefix>/cameras/<id>/status` (retained, so a new subscriber learns each camera's state at once).
    paho's network thread keeps the connection and reconnects; while it is down a try fails and is retried."""

    def __init__(self, cfg: MqttConfig):
        import paho.mqtt.client as mqtt

        self.cfg, self.retry, self.name = cfg, cfg.retry, "mqtt"
        self.where = f"mqtt://{cfg.host}:{cfg.port}"
        self._connected = threading.Event()
        self._last_error: str | None = None
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cfg.client_id or f"vigil-{uuid.uuid4().hex[:12]}",
                                   protocol=mqtt.MQTTv311)
        if cfg.username is not None:
            self._client.username_pw_set(cfg.username, cfg.password.get_secret_value() if cfg.password else None)
        self._client.reconnect_delay_set(1, 30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        self._client.loop_start()

    def _on_connect(self, _client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            self._last_error = f"broker refused the connection: {reason_code}"
            log.warning("MQTT %s: %s", self.where, self._last_error)
            return
        self._connected.set()
        log.info("MQTT %s: connected", self.where)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props) -> None:
        self._connected.clear()
        self._last_error = f"disconnected: {reason_code}"

    def accepts(self, n: Notification) -> bool:
        return passes(self.cfg.filters, n)

    def topic(self, n: Notification) -> tuple[str, bool]:
        prefix = self.cfg.topic_prefix.rstrip("/")
        if n.kind == "camera.status" and n.camera_id:
            return f"{prefix}/cameras/{n.camera_id}/status", True
        return f"{prefix}/events", False

    def send(self, n: Notification) -> None:
        if not self._connected.wait(self.cfg.timeout_s):
            raise DeliveryError(f"not connected to {self.where}" + (f" ({self._last_error})" if self._last_error else ""))
        topic, retain = self.topic(n)
        body = n.body() if not retain else json.dumps(
            {**n.data, "delivery_id": n.delivery_id, "kind": n.kind}, ensure_ascii=False, separators=(",", ":")).encode()
        info = self._client.publish(topic, body, qos=1, retain=retain)
        try:
            info.wait_for_publish(self.cfg.timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"publish to {self.where} failed: {exc}") from None
        if not info.is_published():
            raise DeliveryError(f"{self.where} did not acknowledge within {self.cfg.timeout_s:g} s")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def build(webhooks: list[WebhookConfig], mqtt: MqttConfig | None) -> list[Channel]:
    channels: list[Channel] = [WebhookChannel(w) for w in webhooks]
    if mqtt is not None:
        channels.append(MqttChannel(mqtt))
    return channels
