"""A partner's webhook endpoint for tests: a real aiohttp server on 127.0.0.1 that records every
delivery (raw body and headers), answers with queued statuses (200 by default), can hold a
request to provoke timeouts, and notes any event received twice at the same time."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

__all__ = ["Delivery", "Receiver", "receiving"]


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()

    @property
    def event_id(self) -> str:
        return self.headers["tokenward-event-id"]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.answers: deque[int | float] = deque()  # a status, or seconds to hold then 200
        self.hold = 0.0  # seconds every request is held before its answer
        self.overlaps: list[str] = []  # event ids seen twice at once
        self._active: Counter[str] = Counter()
        self.url = ""

    def answer_next(self, *answers: int | float) -> None:
        """Queue answers: an int is a status, a float a delay in seconds before a 200."""
        self.answers.extend(answers)

    def ids(self) -> list[str]:
        return [d.event_id for d in self.deliveries]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        delivery = Delivery(
            {k.lower(): v for k, v in request.headers.items()}, body, time.monotonic()
        )
        self.deliveries.append(delivery)
        event_id = delivery.headers.get("tokenward-event-id", "")
        self._active[event_id] += 1
        if self._active[event_id] > 1:
            self.overlaps.append(event_id)
        try:
            answer = self.answers.popleft() if self.answers else 200
            if isinstance(answer, float):
                await asyncio.sleep(answer)
                answer = 200
            if self.hold:
                await asyncio.sleep(self.hold)
            return web.Response(status=int(answer), text="ok")
        finally:
            self._active[event_id] -= 1


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/tokenward", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    receiver.url = str(server.make_url("/hooks/tokenward"))
    try:
        yield receiver
    finally:
        await server.close()
