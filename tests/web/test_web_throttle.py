"""LoginThrottle on its own, with a hand-moved clock: a sliding window per address,
bounded memory."""

from __future__ import annotations

from tuneforge.web.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_gets_its_failures_per_window_and_then_waits_for_the_oldest_to_age_out():
    clock = Clock()
    throttle = LoginThrottle(failures=3, window_seconds=60, clock=clock)
    for step in (0, 10, 20):
        clock.now = 1000 + step
        assert throttle.retry_after("a") == 0
        throttle.failed("a", "login")
    assert throttle.retry_after("a") == 40  # the first failure (t=1000) ages out at t=1060
    clock.now = 1060
    assert throttle.retry_after("a") == 0


def test_addresses_are_counted_apart():
    throttle = LoginThrottle(failures=1, window_seconds=60, clock=Clock())
    throttle.failed("a", "bearer")
    assert throttle.retry_after("a") > 0 and throttle.retry_after("b") == 0


def test_at_most_max_clients_addresses_are_remembered():
    clock = Clock()
    throttle = LoginThrottle(failures=5, window_seconds=60, clock=clock, max_clients=100)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", "login")
    assert len(throttle._failed) == 100


def test_an_ipv6_host_is_counted_by_its_64_network():
    throttle = LoginThrottle(failures=2, window_seconds=60, clock=Clock())
    throttle.failed("2001:db8:1:2::10", "login")
    throttle.failed("2001:db8:1:2:ffff::99", "login")
    assert throttle.retry_after("2001:db8:1:2::abcd") > 0
    assert throttle.retry_after("2001:db8:1:3::10") == 0
