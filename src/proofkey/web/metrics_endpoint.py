"""``GET /metrics`` (Prometheus text format), and who may scrape it on the main port.

The numbers name clients and show traffic and error rates: operators' data, not the public's.
On the main port the endpoint answers only loopback addresses and the configured trusted
proxies (``PROOFKEY_TRUSTED_PROXIES``), unless ``PROOFKEY_METRICS_PUBLIC`` opens it; on the
admin port (``PROOFKEY_ADMIN_PORT``) it answers everyone who can reach that port. The address
checked is the one the ASGI server reports: behind a trusted proxy that is the original client
(the proxy's ``X-Forwarded-For``), so a scrape relayed for an outside caller is refused while a
scrape made by the proxy host itself is answered.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from proofkey.observability.metrics import Metrics

__all__ = ["scrape_endpoint"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _allowed(host: str | None, networks: Sequence[_Network]) -> bool:
    if host is None:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or any(address in net for net in networks)


def scrape_endpoint(metrics: Metrics, *, restricted: bool, trusted_proxies: Sequence[str]
                    ) -> Callable[[Request], Awaitable[Response]]:
    """The scrape endpoint; ``restricted`` limits it to loopback and ``trusted_proxies``."""
    networks = [ipaddress.ip_network(n, strict=False) for n in trusted_proxies]

    async def scrape(request: Request) -> Response:
        if restricted and not _allowed(request.client.host if request.client else None,
                                       networks):
            return PlainTextResponse(
                "metrics are served to loopback and trusted proxies only "
                "(PROOFKEY_METRICS_PUBLIC=true serves them to everyone)\n", status_code=403,
                headers={"Cache-Control": "no-store"})
        body, content_type = metrics.render()
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    return scrape
