"""AIP-155 under concurrency: calls of a create-type RPC that carry the same ``request_id``
get the same answer, however they interleave.

The job engine already returns the stored job for a ``request_id`` it has seen; what it
cannot see are calls that arrive while the first one is still validating (reading the
dataset, inspecting the model): those used to race it and either make a second job or trip
over the first one's "name is taken" check. :func:`single_flight` makes them wait for the
first call and share its response (or its error).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[Any, Any, Any], Awaitable[Any]]
_RETRY = object()


def single_flight(method: Handler) -> Handler:
    """Decorate a servicer's create RPC (a coroutine taking ``request.request_id``)."""

    @functools.wraps(method)
    async def call(self: Any, request: Any, context: Any) -> Any:
        request_id = getattr(request, "request_id", "")
        if not request_id:
            return await method(self, request, context)
        flights: dict[tuple[str, str], asyncio.Future[Any]] = self.__dict__.setdefault("_in_flight", {})
        key = (method.__name__, request_id)
        while key in flights:
            response = await asyncio.shield(flights[key])
            if response is not _RETRY:
                return response
        flight: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        flight.add_done_callback(lambda f: f.exception())  # no "exception never retrieved" noise
        flights[key] = flight
        try:
            response = await method(self, request, context)
        except Exception as exc:
            flight.set_exception(exc)
            raise
        except BaseException:
            flight.set_result(_RETRY)  # the first caller went away: a waiter takes over
            raise
        else:
            flight.set_result(response)
            return response
        finally:
            flights.pop(key, None)

    return call
