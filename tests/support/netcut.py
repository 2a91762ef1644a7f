"""A TCP proxy on loopback that can cut the connection in the middle of a request — a real
network cut between an agent and the hub, not a mock."""

from __future__ import annotations

import socket
import threading


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to ``target``. ``cut_after(n)`` arms a cut: once n more bytes
    from the client have been forwarded (on whatever connection, kept-alive or new), that
    connection dies mid-stream — the hub sees a truncated request, the client a dead socket."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.budget: int | None = None
        self.cuts = 0
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_after(self, client_bytes: int) -> None:
        self.budget = client_bytes

    def close(self) -> None:
        self._stopping = True
        self.listener.close()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _take(self, size: int) -> tuple[int, bool]:
        """How many of ``size`` bytes may pass, and whether the connection dies after them."""
        with self._lock:
            if self.budget is None:
                return size, False
            allowed = min(size, self.budget)
            self.budget -= allowed
            if self.budget > 0:
                return allowed, False
            self.budget = None
            self.cuts += 1
            return allowed, True

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))

        def pump(source: socket.socket, sink: socket.socket, from_client: bool) -> None:
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    allowed, cut = self._take(len(data)) if from_client else (len(data), False)
                    sink.sendall(data[:allowed])
                    if cut:
                        break
            except OSError:
                pass
            finally:
                for s in (source, sink):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()

        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()
        pump(client, upstream, True)
