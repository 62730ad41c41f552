"""`Notifications`: what the running service holds for notifications and for database outages (issue #15, items 6
and 7), wired to the Runtime in one place:

- the event spool (api/spool.py) under `storage.data_dir/spool`, handed to the store, and its `SpoolMaintainer`;
  writes an earlier run left there are replayed at once, before events left open are closed;
- the `NotificationMaintainer` (the outbox's one dispatcher) with the configured webhook and MQTT channels, and the
  `StreamHub` that wakes the server-sent-events streams;
- a commit hook on the session factory: a transaction that added notifications wakes the dispatcher, so they go
  out at once instead of at the next poll;
- the camera watch: each camera's first frame of this run is announced (camera.status online); later changes come
  with its camera_offline event, in that event's transaction.
"""
from __future__ import annotations

import logging

from sqlalchemy import event

from vigil.api.spool import MB, EventSpool, SpoolMaintainer
from vigil.outbox import channels as channel_kinds
from vigil.outbox.feed import StreamHub
from vigil.outbox.maintainer import NotificationMaintainer
from vigil.outbox.messages import PENDING_FLAG

log = logging.getLogger("vigil.outbox")


class Notifications:
    def __init__(self, rt):
        self.rt = rt
        cfg = rt.cfg
        self.cfg = cfg.notifications
        self.spool = EventSpool(rt.data_dir / "spool", int(cfg.storage.spool.max_mb * MB))
        rt.store.spool = self.spool
        rt.store.write_wait_s = cfg.storage.spool.write_wait_s
        rt.store.regions = self._regions
        self.spool_maintainer = SpoolMaintainer(rt.store, cfg.storage.spool.retry_max_s)
        if len(self.spool):
            rt.store.replay_spool()
        self.hub = StreamHub()
        self.dispatcher: NotificationMaintainer | None = None
        self._announced: set[str] = set()
        event.listen(rt.sessions, "after_commit", self._after_commit)
        event.listen(rt.sessions, "after_soft_rollback", self._after_rollback)

    def _regions(self) -> dict[str, str]:
        """Institution id -> region path, from the runtime's current inventory (it may change while running)."""
        from vigil.access import normalise_region
        return {i.id: normalise_region(i.region) for i in self.rt.cfg.institutions}

    @property
    def channel_names(self) -> list[str]:
        return [f"webhook:{w.name}" for w in self.cfg.webhooks] + (["mqtt"] if self.cfg.mqtt is not None else [])

    def start(self) -> "Notifications":
        self.spool_maintainer.start()
        if self.dispatcher is None:
            chans = channel_kinds.build(self.cfg.webhooks, self.cfg.mqtt)
            self.dispatcher = NotificationMaintainer(self.rt.sessions, self.cfg, chans, on_published=self.hub.notify,
                                                     on_pass=self._watch_cameras)
            self.dispatcher.start()
            log.info("notifications: %d channel(s): %s", len(chans), ", ".join(c.name for c in chans) or "none "
                     "(the event stream only)")
        return self

    def stop(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
        self.spool_maintainer.stop()

    def wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def _after_commit(self, session) -> None:
        if session.info.pop(PENDING_FLAG, False):
            self.wake()

    @staticmethod
    def _after_rollback(session, _previous) -> None:
        session.info.pop(PENDING_FLAG, None)

    def _watch_cameras(self) -> None:
        for cid, proc in list(self.rt.processors.items()):
            if cid in self._announced or getattr(proc, "offline_event", None) is not None:
                continue
            if proc.reader.health.seconds_since_frame() is not None:
                self._announced.add(cid)
                self.rt.store.camera_status(cid, "online", "first frame of this run")

    def metric_lines(self) -> list[str]:
        """Prometheus lines: the spool and the dispatcher."""
        sp = self.spool.stats()
        lines = ["# HELP vigil_spool_entries Event writes waiting on disk for the database",
                 "# TYPE vigil_spool_entries gauge", f"vigil_spool_entries {sp['entries']}",
                 "# HELP vigil_spool_bytes Size of the event spool", "# TYPE vigil_spool_bytes gauge",
                 f"vigil_spool_bytes {sp['bytes']}",
                 "# HELP vigil_spool_replayed_total Spooled writes written to the database",
                 "# TYPE vigil_spool_replayed_total counter", f"vigil_spool_replayed_total {sp['replayed']}",
                 "# HELP vigil_spool_dropped_total Spooled writes (or their pictures) dropped: spool over its bound, "
                 "or refused by the database", "# TYPE vigil_spool_dropped_total counter"]
        for what in ("updated", "snapshot", "started", "ended", "clip", "status", "failed"):
            lines.append(f'vigil_spool_dropped_total{{what="{what}"}} {sp["dropped"].get(what, 0)}')
        d = self.dispatcher
        lines += ["# HELP vigil_notifications_published_total Outbox rows published by the dispatcher",
                  "# TYPE vigil_notifications_published_total counter",
                  f"vigil_notifications_published_total {d.published if d else 0}",
                  "# HELP vigil_notifications_delivered_total Notifications a channel delivered",
                  "# TYPE vigil_notifications_delivered_total counter"]
        for name in self.channel_names:
            lines.append(f'vigil_notifications_delivered_total{{channel="{name}"}} {d.delivered.get(name, 0) if d else 0}')
        lines += ["# HELP vigil_notifications_dead_letters_total Notifications a channel gave up on",
                  "# TYPE vigil_notifications_dead_letters_total counter"]
        for name in self.channel_names:
            lines.append(f'vigil_notifications_dead_letters_total{{channel="{name}"}} {d.dead.get(name, 0) if d else 0}')
        lines += ["# HELP vigil_notification_streams Open server-sent-events streams",
                  "# TYPE vigil_notification_streams gauge", f"vigil_notification_streams {self.hub.subscribers}"]
        return lines
