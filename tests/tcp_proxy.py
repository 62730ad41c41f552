"""A TCP proxy the test controls, between vigil and the machine's PostgreSQL, without touching PostgreSQL itself:
- `cut()`: the database is unreachable (every open connection is reset, new ones are refused);
- `silence()`: the database holds its connections and takes new ones but never answers (a link gone silent, a server
  hung): bytes either way are swallowed;
- `restore()`: connections go through again (the silenced ones are reset first, as a healed link's peer does).

A socket is reset by shutting it down before closing it with SO_LINGER 0: a bare close() of a socket another thread
is reading does not reach the kernel until that read returns, and a client waiting for an answer would wait for ever."""
from __future__ import annotations

import socket
import struct
import threading


class TcpProxy:
    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)):
        self.target = target
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._mode = "open"  # open | cut | silent
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._held: list[socket.socket] = []  # connections taken while silent
        self.accepted = self.refused = self.reset = self.swallowed = 0
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)

    def start(self) -> "TcpProxy":
        self._thread.start()
        return self

    @property
    def is_open(self) -> bool:
        return self._mode == "open"

    @staticmethod
    def _rst(sock: socket.socket) -> None:
        """Reset the connection (SO_LINGER 0), as a dropped link or a restarted server looks to the client; the
        shutdown wakes a thread blocked reading it, so the socket really closes."""
        for step in (lambda: sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)),
                     lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
            try:
                step()
            except OSError:
                pass

    def _reset_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
            held, self._held = self._held, []
        for a, b in pairs:
            self._rst(a)
            self._rst(b)
            self.reset += 1
        for c in held:
            self._rst(c)
            self.reset += 1

    def cut(self) -> None:
        self._mode = "cut"
        self._reset_all()

    def silence(self) -> None:
        self._mode = "silent"

    def restore(self) -> None:
        if self._mode == "silent":
            self._reset_all()
        self._mode = "open"

    def stop(self) -> None:
        self._stop.set()
        self.cut()
        try:
            self._listener.close()
        except OSError:
            pass

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._mode == "cut":
                self.refused += 1
                self._rst(client)
                continue
            if self._mode == "silent":
                with self._lock:
                    self._held.append(client)  # taken, never answered
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                self._rst(client)
                continue
            with self._lock:
                if self._mode == "cut":  # cut while this one was being connected
                    late = True
                else:
                    late = False
                    self._pairs.append((client, upstream))
            if late:
                self._rst(client)
                self._rst(upstream)
                continue
            self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self._mode == "silent":
                    self.swallowed += len(data)
                    continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._pairs = [p for p in self._pairs if src not in p]
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
