"""A TLS-terminating relay for tests: it presents a certificate of the test's choosing (for
example ``platform.certs.wrong_san_cert``) and relays the decrypted bytes to a real TLS server,
so a client's certificate checks can be exercised against a real broker."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def tls_front(cert: Path, key: Path, ca: Path, upstream: tuple[str, int]) -> Iterator[int]:
    """A TLS server presenting ``cert`` that relays the decrypted bytes to the real broker."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(ca))
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.close()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                front = server_ctx.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                raw.close()  # the client refused our certificate: what the test expects
                continue
            back = client_ctx.wrap_socket(
                socket.create_connection(upstream), server_hostname="localhost"
            )
            for a, b in ((front, back), (back, front)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
