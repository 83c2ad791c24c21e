"""An HTTP(S) POST sent to an address checked beforehand, not to a fresh DNS answer.

A webhook host is resolved once, its addresses checked (`store.webhooks.check_target`),
and the POST then connects to one of those addresses: a name that answers a public
address to the check and a private one to the request (DNS rebinding) cannot turn the
webhook into a way into the server's own network. The request still names the host:
`Host` carries it, and for https the TLS handshake sends it (SNI) and the certificate is
verified against it, through urllib3's public `server_hostname` / `assert_hostname`
pool settings.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter


class _HostnameAdapter(HTTPAdapter):
    """Connects wherever the URL says, and speaks TLS as if to `hostname`."""

    def __init__(self, hostname: str) -> None:
        self._hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["server_hostname"] = self._hostname
        kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(*args, **kwargs)


def post_to_address(url: str, address: str, **options) -> requests.Response:
    """POST to `url`, connecting to `address` (one its host resolved to) instead of
    resolving the host again. `options` are those of `requests.post`."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    headers = {**options.pop("headers", {}), "Host": parts.netloc}
    with requests.Session() as session:
        session.trust_env = False  # a proxy would resolve the name itself
        session.mount("https://", _HostnameAdapter(parts.hostname))
        return session.post(
            urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
            headers=headers,
            **options,
        )
