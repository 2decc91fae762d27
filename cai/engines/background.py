"""HTTP requests on a private event loop in a background thread, so synchronous code can post requests
one by one and take the answers as they arrive (the openai engine's submit/collect)."""

from __future__ import annotations

import asyncio
import queue
import threading

from cai.engines.http_client import ServerPool

# How long a non-blocking `finished` waits for a first answer; keeps a loop polling two engines cheap.
POLL_S = 0.02


class BackgroundRequests:
    def __init__(self, pool: ServerPool, concurrency: int):
        self.pool = pool
        self.answers: queue.Queue = queue.Queue()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="cai-openai", daemon=True)
        self.thread.start()
        self.tasks: set = set()
        self._call(self._open(concurrency))

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def _open(self, concurrency: int) -> None:
        self.limit = asyncio.Semaphore(concurrency)
        await self.pool.__aenter__()

    def post(self, key, request, body: dict) -> None:
        """POST `body` to /chat/completions; (key, request, answer or exception) arrives in `finished`."""
        self.loop.call_soon_threadsafe(self._start, key, request, body)

    def _start(self, key, request, body: dict) -> None:
        task = self.loop.create_task(self._one(key, request, body))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _one(self, key, request, body: dict) -> None:
        try:
            async with self.limit:
                answer = await self.pool.request("POST", "/chat/completions", body)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - reported to the caller with its request
            answer = error
        self.answers.put((key, request, answer))

    def finished(self, block: bool) -> list[tuple]:
        try:
            found = [self.answers.get(timeout=None if block else POLL_S)]
        except queue.Empty:
            return []
        while True:
            try:
                found.append(self.answers.get_nowait())
            except queue.Empty:
                return found

    def close(self) -> None:
        async def shut() -> None:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await self.pool.__aexit__(None, None, None)

        try:
            self._call(shut())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()
