"""Headless Chromium driven through its DevTools protocol: load a page, read it, screenshot it.

A small client over one WebSocket (the ``websockets`` package): Chromium prints the browser's
endpoint on stderr, ``Target.createTarget`` opens a page and ``Target.attachToTarget`` (flat
sessions) talks to it. What the page logs as an error, throws, or fetches from the network is
collected while it loads.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

ENDPOINT = re.compile(r"DevTools listening on (ws://\S+)")
STARTUP_SECONDS = 30.0
COMMAND_SECONDS = 30.0


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageEvents:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Session:
    """One page's flat DevTools session on the browser's connection."""

    def __init__(self, connection: ClientConnection, session_id: str) -> None:
        self._connection = connection
        self._session_id = session_id
        self._ids = itertools.count(1000)
        self.events = PageEvents()
        self._seen: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        self._connection.send(
            json.dumps(
                {"id": ident, "method": method, "params": params, "sessionId": self._session_id}
            )
        )
        ends = time.monotonic() + COMMAND_SECONDS
        while time.monotonic() < ends:
            message = json.loads(self._connection.recv(timeout=COMMAND_SECONDS))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self._note(message)
        raise TimeoutError(method)

    def wait_for(self, method: str) -> dict[str, Any]:
        for index, message in enumerate(self._seen):
            if message.get("method") == method:
                del self._seen[: index + 1]
                return dict(message)
        ends = time.monotonic() + COMMAND_SECONDS
        while time.monotonic() < ends:
            message = json.loads(self._connection.recv(timeout=COMMAND_SECONDS))
            self._note(message)
            if message.get("method") == method:
                self._seen.clear()
                return dict(message)
        raise TimeoutError(method)

    def _note(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method is None:
            return
        self._seen.append(message)
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(arg.get("value", arg.get("description", ""))) for arg in params["args"]]
            self.events.console_errors.append(" ".join(texts))
        elif method == "Runtime.exceptionThrown":
            self.events.console_errors.append(str(params["exceptionDetails"].get("text")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.events.console_errors.append(str(params["entry"].get("text")))
        elif method == "Network.requestWillBeSent":
            self.events.requests.append(str(params["request"]["url"]))

    def open(self, url: str, *, width: int, height: int, mobile: bool = False) -> None:
        """Navigate to ``url`` at this viewport and wait until it has loaded."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, full_page: bool = True) -> None:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        path.write_bytes(base64.b64decode(data["data"]))


@contextmanager
def chromium(executable: str) -> Iterator[ClientConnection]:
    """A headless Chromium of its own (a fresh profile), ended when the block ends."""
    # Chromium's helper processes may still write to the profile as they exit.
    with tempfile.TemporaryDirectory(
        prefix="demand-chromium-", ignore_cleanup_errors=True
    ) as profile:
        command = [
            executable,
            "--headless=new",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-dev-shm-usage",  # a container's /dev/shm is often tiny
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--hide-scrollbars",
            "--font-render-hinting=none",
            "about:blank",
        ]
        if os.geteuid() == 0:  # CI runs as root, where Chromium's own sandbox cannot start
            command.insert(1, "--no-sandbox")
        # A session of its own: the browser and its helper processes end together.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            endpoint = _endpoint(process)
            with connect(endpoint, max_size=64 * 2**20, open_timeout=STARTUP_SECONDS) as link:
                yield link
        finally:
            _end_group(process)
            if process.stderr is not None:
                process.stderr.close()


def _end_group(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    # Helpers outlive the browser for a moment; the group's last one is gone soon after.
    ends = time.monotonic() + 5
    while time.monotonic() < ends:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _endpoint(process: subprocess.Popen[bytes]) -> str:
    assert process.stderr is not None
    ends = time.monotonic() + STARTUP_SECONDS
    lines = []
    while time.monotonic() < ends:
        line = process.stderr.readline().decode(errors="replace")
        if not line and process.poll() is not None:
            break
        lines.append(line)
        found = ENDPOINT.search(line)
        if found:
            return found.group(1)
    raise RuntimeError("chromium did not start: " + "".join(lines[-20:]))


def new_page(link: ClientConnection) -> Session:
    ident = itertools.count(1)

    def call(method: str, **params: Any) -> dict[str, Any]:
        number = next(ident)
        link.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(link.recv(timeout=COMMAND_SECONDS))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message["result"])

    target = call("Target.createTarget", url="about:blank")["targetId"]
    session = call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    return Session(link, session)
