"""A webhook POST over https to a checked address still verifies the certificate against
the URL's host name (SNI and hostname check), not against the address."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from app.background.pinned_post import post_to_address


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.hosts.append(self.headers["Host"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path):
    """An https server on 127.0.0.1 whose certificate names hook.test only."""
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make the test certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=hook.test"]
        + ["-addext", "subjectAltName=DNS:hook.test"],
        check=True,
        capture_output=True,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.hosts = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, cert
    server.shutdown()
    server.server_close()


def test_https_to_a_checked_address_verifies_the_host_name(tls_server):
    server, cert = tls_server
    port = server.server_address[1]
    answer = post_to_address(
        f"https://hook.test:{port}/hook", "127.0.0.1", data=b"{}", timeout=5, verify=str(cert)
    )
    assert answer.status_code == 204 and server.hosts == [f"hook.test:{port}"]
    with pytest.raises(requests.exceptions.SSLError):
        post_to_address(
            f"https://other.test:{port}/hook", "127.0.0.1", data=b"{}", timeout=5, verify=str(cert)
        )
    assert len(server.hosts) == 1
