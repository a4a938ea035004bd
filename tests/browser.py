"""A real headless browser (Debian's chromium) driven over the DevTools protocol, for tests of pages.

Only what the tests need: open a page with every request outside the page's own origin failed (as with
no network), evaluate JavaScript, poll for a condition, and collect what was blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
]


def chromium_path() -> str:
    """Debian's chromium; installed with apt-get when missing and this is root (CI is a fresh machine)."""
    found = shutil.which("chromium")
    if found is None and shutil.which("apt-get") is not None and Path("/proc/self").stat().st_uid == 0:
        install = ["apt-get", "install", "-y", "-q", "chromium"]
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        if subprocess.run(install, env=env, capture_output=True, timeout=900).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600, check=True)
            subprocess.run(install, env=env, capture_output=True, timeout=900, check=True)
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is needed for the browser tests: apt-get install chromium", pytrace=False)
    return found


class Page:
    def __init__(self, socket: ClientConnection, origin: str) -> None:
        self.socket = socket
        self.origin = origin
        self.blocked: list[str] = []
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())
        self._routing: set[asyncio.Task[None]] = set()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[message_id] = reply
        await self.socket.send(orjson.dumps({"id": message_id, "method": method, "params": params}).decode())
        answer = await asyncio.wait_for(reply, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def _read(self) -> None:
        async for raw in self.socket:
            message = orjson.loads(raw)
            if "id" in message and message["id"] in self._replies:
                self._replies.pop(message["id"]).set_result(message)
            elif message.get("method") == "Fetch.requestPaused":
                task = asyncio.create_task(self._route(message["params"]))
                self._routing.add(task)
                task.add_done_callback(self._routing.discard)

    async def _route(self, request: dict[str, Any]) -> None:
        url: str = request["request"]["url"]
        if url.startswith(self.origin + "/") or url.startswith("data:"):
            await self.send("Fetch.continueRequest", requestId=request["requestId"])
        else:
            self.blocked.append(url)
            await self.send("Fetch.failRequest", requestId=request["requestId"], errorReason="InternetDisconnected")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true within {timeout}s: {expression}")
            await asyncio.sleep(0.1)  # polling the page for the condition


@contextlib.asynccontextmanager
async def open_page(url: str, origin: str, before_scripts: str = "") -> AsyncIterator[Page]:
    """``url`` in a fresh headless chromium; requests outside ``origin`` fail and are listed in ``blocked``."""
    # Chromium's helper processes may still write to the throwaway profile as the browser exits.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, then driven over its socket
            [chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start (exit {proc.poll()})")
                await asyncio.sleep(0.1)  # polling for the browser's port file
            port = port_file.read_text().split()[0]
            async with httpx.AsyncClient() as client:
                targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
            target = next(t for t in targets if t["type"] == "page")
            async with connect(target["webSocketDebuggerUrl"], max_size=None) as socket:
                page = Page(socket, origin)
                await page.send("Fetch.enable", patterns=[{"urlPattern": "*"}])
                await page.send("Page.enable")
                await page.send("Runtime.enable")
                if before_scripts:
                    await page.send("Page.addScriptToEvaluateOnNewDocument", source=before_scripts)
                await page.send("Page.navigate", url=url)
                try:
                    yield page
                finally:
                    page._reader.cancel()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
