"""`NotificationMaintainer`: the one dispatcher of the outbox (like Frigate's maintainers: a long-lived loop with
start/stop, and `run_once()` for a single pass).

Each pass:
1. **publish**: outbox rows without `seq` get the next numbers, in id order, in one transaction. Only this loop
   numbers rows, so `seq` grows in the order rows became visible: a channel's progress is one number and a row
   committed late (a lower id after a higher one, PostgreSQL) is not skipped. The event stream is woken.
2. **deliver**: every channel that is due gets a worker (one at a time per channel, so a slow receiver delays only
   itself). A channel takes the rows after its `last_seq` in order; rows its filters refuse are passed over; a
   delivered row moves `last_seq` in the database before the next row is sent, so a restart never sends a
   delivered row again. A failed try is retried after `initial_s`, doubling up to `max_s`; after `max_attempts`
   the row becomes a dead letter and the channel goes on. Dead letters an admin asked to redeliver are tried once
   more, out of order.
3. **prune** (hourly): rows every channel has passed, older than `keep_days` and not dead letters.

Delivery is at least once: a crash between a receiver's answer and the `last_seq` update sends that one row again
with the same delivery id, by which receivers dedupe.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from vigil.api.db import as_utc, utcnow
from vigil.api.db_outbox import DeadLetterRow, OutboxChannelRow, OutboxRow
from vigil.loops import BackgroundLoop
from vigil.outbox.channels import Channel, DeliveryError
from vigil.outbox.config import NotificationsConfig
from vigil.outbox.messages import Notification

log = logging.getLogger("vigil.outbox")
BATCH = 100
PRUNE_EVERY_S = 3600.0


class NotificationMaintainer(BackgroundLoop):
    thread_name = "notification-maintainer"

    def __init__(self, sessions: sessionmaker, cfg: NotificationsConfig, channels: list[Channel],
                 on_published: Callable[[int], None] | None = None, on_pass: Callable[[], None] | None = None):
        super().__init__()
        self.sessions, self.cfg, self.channels = sessions, cfg, list(channels)
        self.on_published, self.on_pass = on_published, on_pass
        self.published = 0
        self.delivered: dict[str, int] = {c.name: 0 for c in self.channels}
        self.dead: dict[str, int] = {c.name: 0 for c in self.channels}
        self.latencies: dict[str, deque[float]] = {c.name: deque(maxlen=2048) for c in self.channels}
        self.last_error: str | None = None
        self._due: dict[str, float] = {}  # channel -> monotonic time of its next try
        self._busy: dict[str, Future] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._run_lock = threading.Lock()
        self._pruned_at = 0.0
        self._db_down = False

    # -- thread ----------------------------------------------------------------------------------
    def _before_start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.channels)), thread_name_prefix="notify")

    def _after_stop(self) -> None:
        # stop() has ended the loop; a delivery in flight finishes (and is recorded) first
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._busy.clear()
        for c in self.channels:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.exception("closing notification channel %s", c.name)

    def wake(self) -> None:
        """New notifications were committed: deliver them now rather than at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_once()
                if self._db_down:
                    log.info("notifications: database reachable again")
                self._db_down, self.last_error = False, None
            except SQLAlchemyError as exc:
                self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                if not self._db_down:
                    log.warning("notifications: database unreachable, retrying every %.1f s: %s",
                                self.cfg.poll_interval_s, self.last_error)
                self._db_down = True
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("notification pass failed")
            self._wake.wait(self._wait_s())

    def _wait_s(self) -> float:
        now = time.monotonic()
        soonest = min((t - now for t in self._due.values()), default=self.cfg.poll_interval_s)
        return max(0.02, min(self.cfg.poll_interval_s, soonest))

    # -- one pass ----------------------------------------------------------------------------------
    def run_once(self, wait: bool = False) -> int:
        """Publish new rows, start the due channels' deliveries (`wait`: and wait for them); returns the
        number of rows published."""
        with self._run_lock:
            n = self.publish()
            if self.on_pass is not None:
                self.on_pass()
            now = time.monotonic()
            for ch in self.channels:
                busy = self._busy.get(ch.name)
                if (busy is not None and not busy.done()) or self._due.get(ch.name, 0.0) > now:
                    continue
                if self._pool is None or wait:
                    self.deliver(ch)
                else:
                    self._busy[ch.name] = self._pool.submit(self.deliver, ch)
            if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
                self._pruned_at = time.monotonic()
                self.prune()
            return n

    def publish(self) -> int:
        with self.sessions.begin() as s:
            rows = s.scalars(select(OutboxRow).where(OutboxRow.seq.is_(None)).order_by(OutboxRow.id)
                             .limit(1000)).all()
            if not rows:
                return 0
            seq = s.scalar(select(func.max(OutboxRow.seq))) or 0
            t = utcnow()
            for r in rows:
                seq += 1
                r.seq, r.published_at = seq, t
        self.published += len(rows)
        if self.on_published is not None:
            self.on_published(seq)
        return len(rows)

    def _state(self, s, name: str) -> OutboxChannelRow:
        st = s.get(OutboxChannelRow, name)
        if st is None:  # a new channel starts after what is published now: it gets no backlog of old news
            st = OutboxChannelRow(name=name, last_seq=s.scalar(select(func.max(OutboxRow.seq))) or 0, attempts=0,
                                  delivered=0, dead=0, updated_at=utcnow())
            s.add(st)
            s.flush()
        return st

    def deliver(self, ch: Channel) -> int:
        """Send the channel's rows in order until none is left, one fails or the loop stops; then the
        redeliveries asked for. Returns how many were delivered."""
        sent = 0
        while not self._stop.is_set():
            with self.sessions.begin() as s:
                st = self._state(s, ch.name)
                due = as_utc(st.next_attempt_at)
                if due is not None and due > utcnow():
                    self._due[ch.name] = time.monotonic() + (due - utcnow()).total_seconds()
                    return sent
                last = st.last_seq
                rows = s.scalars(select(OutboxRow).where(OutboxRow.seq > last).order_by(OutboxRow.seq)
                                 .limit(BATCH)).all()
                batch = [(r.id, Notification.of(r)) for r in rows]
            if not batch:
                break
            passed = last
            for outbox_id, n in batch:
                if self._stop.is_set():
                    break
                if not ch.accepts(n):
                    passed = n.seq
                    continue
                if passed != last:
                    self._advance(ch.name, passed, delivered=False)
                try:
                    ch.send(n)
                except Exception as exc:  # noqa: BLE001 - DeliveryError, or anything a channel raises
                    text = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
                    self._failed(ch, n, outbox_id, text[:500])
                    return sent
                self._advance(ch.name, n.seq, delivered=True)
                self.latencies[ch.name].append((utcnow() - n.created_at).total_seconds())
                last = passed = n.seq
                sent += 1
            if passed != last:
                self._advance(ch.name, passed, delivered=False)
        self._due.pop(ch.name, None)
        if not self._stop.is_set():
            self.redeliver(ch)
        return sent

    def _advance(self, name: str, seq: int, delivered: bool) -> None:
        with self.sessions.begin() as s:
            st = s.get(OutboxChannelRow, name)
            st.last_seq = max(st.last_seq, seq)
            st.attempts, st.next_attempt_at, st.updated_at = 0, None, utcnow()
            if delivered:
                st.delivered += 1
                st.last_delivered_at, st.last_error = st.updated_at, None
        if delivered:
            self.delivered[name] = self.delivered.get(name, 0) + 1

    def _failed(self, ch: Channel, n: Notification, outbox_id: int, error: str) -> None:
        with self.sessions.begin() as s:
            st = s.get(OutboxChannelRow, ch.name)
            st.attempts += 1
            st.last_error, st.updated_at = error, utcnow()
            if st.attempts >= ch.retry.max_attempts:
                s.add(DeadLetterRow(channel=ch.name, outbox_id=outbox_id, attempts=st.attempts, last_error=error,
                                    status="dead", created_at=st.updated_at, updated_at=st.updated_at))
                log.error("notification %s (%s) to %s: dead letter after %d attempts: %s", n.delivery_id, n.kind,
                          ch.name, st.attempts, error)
                st.last_seq, st.attempts, st.next_attempt_at = n.seq, 0, None
                st.dead += 1
                self.dead[ch.name] = self.dead.get(ch.name, 0) + 1
                self._due.pop(ch.name, None)
                self._wake.set()
                return
            delay = min(ch.retry.max_s, ch.retry.initial_s * 2 ** (st.attempts - 1))
            st.next_attempt_at = st.updated_at + timedelta(seconds=delay)
            self._due[ch.name] = time.monotonic() + delay
            log.warning("notification %s (%s) to %s: try %d of %d failed, next in %.1f s: %s", n.delivery_id,
                        n.kind, ch.name, st.attempts, ch.retry.max_attempts, delay, error)

    def redeliver(self, ch: Channel) -> int:
        """Dead letters of this channel that an admin asked to redeliver: one more try each."""
        with self.sessions() as s:
            pending = [(d.id, Notification.of(o)) for d, o in s.execute(
                select(DeadLetterRow, OutboxRow).join(OutboxRow, OutboxRow.id == DeadLetterRow.outbox_id)
                .where(DeadLetterRow.channel == ch.name, DeadLetterRow.status == "redeliver")
                .order_by(DeadLetterRow.id).limit(BATCH)).all()]
        done = 0
        for dead_id, n in pending:
            error = None
            try:
                ch.send(n)
            except Exception as exc:  # noqa: BLE001
                error = (str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}")[:500]
            with self.sessions.begin() as s:
                d = s.get(DeadLetterRow, dead_id)
                d.attempts += 1
                d.updated_at = utcnow()
                if error is None:
                    d.status, d.redelivered_at = "redelivered", d.updated_at
                    done += 1
                else:
                    d.status, d.last_error = "dead", error
            log.info("dead letter %s (%s) to %s: redelivery %s", dead_id, n.delivery_id, ch.name,
                     "delivered" if error is None else f"failed: {error}")
        return done

    def prune(self) -> int:
        cutoff = utcnow() - timedelta(days=self.cfg.keep_days)
        with self.sessions.begin() as s:
            names = [c.name for c in self.channels]
            passed = s.scalar(select(func.min(OutboxChannelRow.last_seq)).where(OutboxChannelRow.name.in_(names))) \
                if names else s.scalar(select(func.max(OutboxRow.seq)))
            if passed is None:
                return 0
            res = s.execute(delete(OutboxRow).where(OutboxRow.seq <= passed, OutboxRow.created_at < cutoff,
                                                    ~OutboxRow.id.in_(select(DeadLetterRow.outbox_id)))
                            .execution_options(synchronize_session=False))
        if res.rowcount:
            log.info("notifications: pruned %d delivered notification(s) older than %g days", res.rowcount,
                     self.cfg.keep_days)
        return res.rowcount or 0
