"""Failed logins per client address: a sliding window, so guessing the token is slow.

Without it one address could try ~900-1,500 tokens a second against ``POST /auth/login`` or
any route with ``Authorization: Bearer``. Here an address gets ``failures`` wrong tokens per
``window_seconds`` (5 a minute by default); past that every try, the right token included, is
answered 429 with ``Retry-After`` without the token being checked, so a locked-out guesser
learns nothing. A right token forgets the address's failures.

The address is the TCP peer (the console trusts no ``X-Forwarded-For``): behind a reverse
proxy every user shares the proxy's address and its limit. An IPv6 peer is counted by its /64
network, the block one host usually holds, so a host cannot multiply its limit by rotating
through its own addresses. Memory is bounded: at most ``max_clients`` addresses are
remembered, the oldest dropped first.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("tuneforge.web")


def client_address(scope: dict[str, Any]) -> str:
    """The TCP peer's address (``"unknown"`` when the server does not say)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _counted_as(client: str) -> str:
    """What ``client``'s failures are counted under: its /64 network for IPv6, else itself."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return client


class LoginThrottle:
    def __init__(self, failures: int = 5, window_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000) -> None:
        self.failures = failures
        self.window = window_seconds
        self.clock = clock
        self.max_clients = max_clients
        self._failed: dict[str, deque[float]] = {}

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try a token again (0: now)."""
        times = self._recent(_counted_as(client))
        if len(times) < self.failures:
            return 0.0
        return max(times[0] + self.window - self.clock(), 0.001)

    def failed(self, client: str, via: str) -> None:
        """Counts a wrong token from ``client`` (``via`` login or bearer) and logs it."""
        key = _counted_as(client)
        times = self._recent(key)
        times.append(self.clock())
        self._failed[key] = times
        log.warning("web_login_failed", client=client, via=via, failures=len(times), window_seconds=self.window)
        if len(times) >= self.failures:
            log.warning("web_login_locked", client=client, retry_after_seconds=round(self.retry_after(client), 1))
        self._bound()

    def succeeded(self, client: str) -> None:
        self._failed.pop(_counted_as(client), None)

    def _recent(self, key: str) -> deque[float]:
        """``key``'s failures within the window (an address with none is forgotten)."""
        times = self._failed.get(key, deque())
        horizon = self.clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            self._failed.pop(key, None)
        return times

    def _bound(self) -> None:
        if len(self._failed) <= self.max_clients:
            return
        for key in list(self._failed):
            self._recent(key)  # forgets addresses whose failures have all aged out
        while len(self._failed) > self.max_clients:
            del self._failed[next(iter(self._failed))]
