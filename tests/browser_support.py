"""The system's headless Chromium, driven over the DevTools protocol (a small client on
aiohttp's websocket): open a tab, record every URL it fetches, read the xterm.js
terminal's text, take a screenshot, close the tab. Loopback only.

The terminal draws on a canvas, so its text is not in the DOM: a script added before
the page's own records each object that gets a ``terminal`` property (textual.js's
``this.terminal = new Terminal(…)``), and the text is read with xterm.js's public
buffer API. The page itself is not changed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

CHROMIUM = "/usr/bin/chromium"


def require_chromium() -> None:
    """Return if the system's Chromium is there; otherwise skip, or fail in CI when the
    set-up should have installed it (./bootstrap.sh test apt-installs it, as root only)."""
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI") and os.geteuid() == 0:
        pytest.fail(f"{CHROMIUM} missing: in CI ./bootstrap.sh test must have installed chromium", pytrace=False)
    pytest.skip("needs the system's chromium (sudo apt-get install chromium)")


#: runs before the page's scripts: keeps a reference to every xterm.js Terminal made
_RECORD_TERMINALS = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    (window.__terminals = window.__terminals || []).push(value);
  },
});
"""

#: the first terminal's visible lines, as text
_TERMINAL_TEXT = """
(() => {
  const t = (window.__terminals || [])[0];
  if (!t) return "";
  const buffer = t.buffer.active, lines = [];
  for (let i = 0; i < t.rows; i++) {
    const line = buffer.getLine(buffer.viewportY + i);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
})()
"""


#: the RGB colours (0xRRGGBB) of the first terminal's visible cells, foreground and background
_TERMINAL_COLOURS = """
(() => {
  const t = (window.__terminals || [])[0];
  if (!t) return [];
  const buffer = t.buffer.active, seen = new Set();
  for (let y = 0; y < t.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    for (let x = 0; line && x < t.cols; x++) {
      const cell = line.getCell(x);
      if (!cell) continue;
      if (cell.isFgRGB()) seen.add(cell.getFgColor());
      if (cell.isBgRGB()) seen.add(cell.getBgColor());
    }
  }
  return Array.from(seen);
})()
"""


def saturated(colours: list[int], spread: int = 60) -> list[int]:
    """The colours that are not a grey: their channels differ by more than ``spread``."""
    out = []
    for c in colours:
        rgb = ((c >> 16) & 255, (c >> 8) & 255, c & 255)
        if max(rgb) - min(rgb) > spread:
            out.append(c)
    return out


#: keys that type no character: their DOM name → virtual key code
KEYS = {"Escape": 27, "ArrowDown": 40, "ArrowUp": 38, "Enter": 13}


class Tab:
    """One page target, attached through the browser's one websocket (flat sessions)."""

    def __init__(self, browser: Browser, target_id: str, session_id: str) -> None:
        self.browser, self.target_id, self.session_id = browser, target_id, session_id
        #: every URL the page asked for (documents, scripts, styles, fonts, websockets)
        self.requested: list[str] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, session_id=self.session_id, **params)

    async def evaluate(self, expression: str) -> Any:
        reply = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return reply.get("result", {}).get("value")

    async def terminal_text(self) -> str:
        return str(await self.evaluate(_TERMINAL_TEXT) or "")

    async def terminal_colours(self) -> list[int]:
        """The truecolor colours the terminal's visible cells are drawn in (0xRRGGBB)."""
        return [int(c) for c in await self.evaluate(_TERMINAL_COLOURS) or []]

    async def wait_for_text(self, needle: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        text = ""
        while time.monotonic() < deadline:
            text = await self.terminal_text()
            if needle in text:
                return text
            await asyncio.sleep(0.2)
        raise AssertionError(f"{needle!r} not in the terminal after {timeout_s} s:\n{text}")

    async def press(self, key: str) -> None:
        """A key typed into the terminal (its hidden textarea takes the keyboard): a character,
        or one of KEYS by its DOM name ("Escape", "ArrowDown")."""
        await self.send("Page.bringToFront")
        await self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        code = KEYS.get(key)
        named = {} if code is None else {"code": key, "windowsVirtualKeyCode": code}
        await self.send("Input.dispatchKeyEvent", type="keyDown", key=key, **({"text": key} if code is None else named))
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key, **named)

    async def screenshot(self, path: str) -> None:
        reply = await self.send("Page.captureScreenshot", format="png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(reply["data"]))

    async def close(self) -> None:
        await self.browser.send("Target.closeTarget", targetId=self.target_id)


class Browser:
    """A headless Chromium of its own (new profile dir, own process group)."""

    def __init__(self, width: int = 1280, height: int = 800) -> None:
        self.profile = tempfile.mkdtemp(prefix="wsgicompare-chromium-")
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._tabs: dict[str, Tab] = {}
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None

    async def connect(self, timeout_s: float = 30.0) -> None:
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout_s
        while not (os.path.exists(port_file) and open(port_file).read().count("\n") >= 1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            await asyncio.sleep(0.05)
        port, path = open(port_file).read().split("\n")[:2]
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            elif data.get("method") == "Network.requestWillBeSent":
                tab = self._tabs.get(data.get("sessionId", ""))
                if tab is not None:
                    tab.requested.append(data["params"]["request"]["url"])
            elif data.get("method") == "Network.webSocketCreated":
                tab = self._tabs.get(data.get("sessionId", ""))
                if tab is not None:
                    tab.requested.append(data["params"]["url"])

    async def send(self, method: str, session_id: str | None = None, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        message_id = next(self._ids)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session_id:
            message["sessionId"] = session_id
        await self._ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def open(self, url: str, width: int = 1280, height: int = 800) -> Tab:
        """A new tab on ``url``, every request recorded from its first."""
        target = await self.send("Target.createTarget", url="about:blank", newWindow=True)
        target_id = target["targetId"]
        attached = await self.send("Target.attachToTarget", targetId=target_id, flatten=True)
        tab = Tab(self, target_id, attached["sessionId"])
        self._tabs[tab.session_id] = tab
        await tab.send("Network.enable")
        await tab.send("Page.enable")
        await tab.send("Runtime.enable")
        await tab.send(
            "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
        )
        await tab.send("Page.addScriptToEvaluateOnNewDocument", source=_RECORD_TERMINALS)
        await tab.send("Page.navigate", url=url)
        return tab

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


@contextlib.asynccontextmanager
async def chromium(width: int = 1280, height: int = 800) -> AsyncIterator[Browser]:
    browser = Browser(width, height)
    try:
        await browser.connect()
        yield browser
    finally:
        await browser.close()
