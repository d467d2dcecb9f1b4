"""A TCP proxy for fault tests: between the app and a real server (localstripe,
PostgreSQL), it passes bytes both ways and, when told, breaks the connection the way
networks do.

Faults, each for the next connection(s) it applies to:
- "reset":  the client's connection is closed as soon as it opens (nothing reaches
            the server: a refused or reset connection);
- "drop":   the request goes through to the server, but the connection is closed
            before any answer comes back (the server did the work; the client does
            not know);
- "slow":   the answer is held back `delay` seconds (a client timeout);
- `cut()`:  every open connection is closed at once, both ways (a restart, a blip).

It runs on 127.0.0.1 and a free port, in threads of the test process.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class TcpProxy:
    target: tuple[str, int]
    port: int = 0
    faults: deque[tuple[str, float]] = field(default_factory=deque)
    connections: int = 0
    _listener: socket.socket | None = None
    _open: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closing: bool = False

    def fail_next(self, kind: str, delay: float = 0.0) -> None:
        assert kind in {"reset", "drop", "slow"}, kind
        self.faults.append((kind, delay))

    def cut(self) -> None:
        """Close every connection that is open now, both ways."""
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            _close(sock)

    # ------------------------------------------------------------------ serving

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def stop(self) -> None:
        self._closing = True
        if self._listener is not None:
            _close(self._listener)
        self.cut()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            kind, delay = self.faults.popleft() if self.faults else ("", 0.0)
            if kind == "reset":
                # Linger 0: the close sends a TCP reset, as a refusing network does.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, "", 0.0), daemon=True).start()
            threading.Thread(
                target=self._pump, args=(server, client, kind, delay), daemon=True
            ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, kind: str, delay: float) -> None:
        """Bytes from `source` to `sink`; on the answer side, the fault of this connection."""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if kind == "drop":  # the server answered: the client never hears it
                    break
                if kind == "slow":
                    time.sleep(delay)
                    kind = ""
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy((host, port))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
