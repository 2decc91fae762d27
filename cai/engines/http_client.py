"""HTTP to one or several OpenAI-compatible servers: spreading, timeouts, retries with backoff.

Retried: 429, 5xx, timeouts and refused connections (a server restarting, a queue full), each time
waiting twice as long (plus jitter, or the server's Retry-After). Any other 4xx is a problem with
the request itself and fails at once with the server's own message.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from urllib.parse import urlsplit

from cai.errors import CaiError


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff: float = 0.5        # seconds before the first retry; doubles each time
    max_backoff: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = min(self.backoff * 2**attempt, self.max_backoff)
        wait += random.uniform(0, wait / 4)  # jitter: many coroutines should not retry in lockstep
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_backoff))
        return wait


class ServerUnreachable(CaiError):
    """No server answered after every retry: unlike a refused request, nothing else would succeed."""


def normalise_base_url(url: str) -> str:
    """'http://host:8000' and 'http://host:8000/v1/' both mean 'http://host:8000/v1'; any other
    path (a hosted endpoint's own prefix) is kept as given."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CaiError(f"'{url}' is not an http(s) URL", "--base-url", "write it like http://127.0.0.1:8000/v1")
    return url + "/v1" if parts.path in ("", "/") else url


def _retry_after(response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _server_message(response) -> str:
    try:
        data = response.json()
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message", error) if isinstance(error, dict) else error
    except ValueError:
        message = response.text
    return " ".join(str(message).split())[:300]


class ServerPool:
    """Sends each request to the base URL with the fewest requests in flight."""

    def __init__(self, base_urls: list[str], api_key: str | None, timeout: float, policy: RetryPolicy,
                 max_connections: int = 64, sleep=asyncio.sleep):
        self.base_urls, self.policy, self.sleep = base_urls, policy, sleep
        self.in_flight = [0] * len(base_urls)
        self._turn = 0
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout, self._max_connections = timeout, max_connections
        self.client = None

    async def __aenter__(self) -> ServerPool:
        import httpx

        limits = httpx.Limits(max_connections=self._max_connections, max_keepalive_connections=self._max_connections)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 10.0)),
                                        headers=self._headers, limits=limits)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.aclose()

    def _pick(self) -> int:
        self._turn += 1
        count = len(self.base_urls)
        return min(range(count), key=lambda i: (self.in_flight[i], (i - self._turn) % count))

    async def request(self, method: str, path: str, body: dict | None = None, base: int | None = None) -> dict:
        """JSON response of `method base_url+path`; `base` pins one server (e.g. to list its models)."""
        import httpx

        last = ""
        for attempt in range(self.policy.max_retries + 1):
            index = self._pick() if base is None else base
            url = self.base_urls[index] + path
            retry_after = None
            self.in_flight[index] += 1
            try:
                response = await self.client.request(method, url, json=body)
            except httpx.TimeoutException:
                last = f"no answer within {self._timeout:g} s"
            except httpx.TransportError as error:
                last = f"cannot connect ({type(error).__name__}: {str(error) or 'no details'})"
            else:
                if response.is_success:
                    return response.json()
                if response.status_code != 429 and response.status_code < 500:
                    raise CaiError(f"the server refused the request (HTTP {response.status_code}): "
                                   f"{_server_message(response)}", url,
                                   "check --model, --max-new-tokens and the server's limits")
                last, retry_after = f"HTTP {response.status_code}: {_server_message(response)}", _retry_after(response)
            finally:
                self.in_flight[index] -= 1
            if attempt < self.policy.max_retries:
                await self.sleep(self.policy.delay(attempt, retry_after))
        where = self.base_urls[base] if base is not None else ", ".join(self.base_urls)
        raise ServerUnreachable(f"server unreachable or failing after {self.policy.max_retries + 1} attempts: {last}",
                       where, "start the server or correct --base-url; raise --timeout or --max-retries "
                              "for a slow one (finished examples are saved: continue with --resume)")


def run_sync(coroutine):
    """Run a coroutine from synchronous code, also when an event loop is already running (notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
