"""`crm-tui serve`: the app in a browser, for agents who must use one (textual-serve).

Each browser tab that connects starts its own `python -m crm_tui` process, as the
operating-system user who ran `serve`: whoever reaches the port acts as that agent.
So the server listens on 127.0.0.1 unless told otherwise (the agent reaches it through
their own SSH tunnel), and every address carries a random token: without it the page
and the websocket answer 403. The websocket also refuses a page of another origin — a
web site open in the same browser must not be able to drive the CRM through
ws://127.0.0.1 (browsers do not apply the same-origin rule to websockets).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import shlex
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    public_url: str | None = None  # where the browser reaches us, if a tunnel changes it
    app_arguments: tuple[str, ...] = ()  # --demo, --readonly for each app process
    database_url: str | None = None  # handed down in the environment, never on a command line


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def app_command(arguments: tuple[str, ...]) -> str:
    """The shell command textual-serve runs per browser tab: this Python, this package."""
    return shlex.join([sys.executable, "-m", "crm_tui", *arguments])


class CrmServer(Server):
    """textual-serve's server with a token on every address and an origin check."""

    def __init__(self, options: ServeOptions, agent: str, token: str | None = None) -> None:
        super().__init__(
            app_command(options.app_arguments),
            host=options.host,
            port=options.port,
            title=f"crm-tui · {agent}",
            public_url=options.public_url,
        )
        self.agent = agent
        self.token = token or secrets.token_urlsafe(24)

    @property
    def address(self) -> str:
        """The address to open, token included."""
        return f"{self.public_url}/?token={self.token}"

    async def _make_app(self) -> web.Application:
        app = web.Application()
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                # The token is a path segment: the page's script appends ?width=&height=.
                web.get("/ws/{token}", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, name="static"),
            ]
        )
        app.on_startup.append(self.on_startup)
        return app

    async def on_startup(self, app: web.Application) -> None:
        print(serving_message(self), flush=True)

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        self._check_token(request.query.get("token", ""))
        font_size = _int(request.query.get("fontsize", "16"), 16)
        router = request.app.router
        static = f"{self.public_url}{router['static'].url_for(filename='/')}".rstrip("/") + "/"
        websocket = f"{self.public_url}{router['websocket'].url_for(token=self.token)}"
        context = {
            "font_size": font_size,
            "app_websocket_url": "ws" + websocket.removeprefix("http"),
            "config": {"static": {"url": static}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        self._check_token(request.match_info.get("token", ""))
        self._check_origin(request)
        return await super().handle_websocket(request)

    def _check_token(self, given: str) -> None:
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise web.HTTPForbidden(
                text="Open the address that `crm-tui serve` printed: it carries a token.\n"
            )

    def _check_origin(self, request: web.Request) -> None:
        origin = request.headers.get("Origin")
        if origin is None:
            return  # not a browser (a browser always sends Origin on a websocket)
        if urlsplit(origin).netloc not in {request.host, urlsplit(self.public_url).netloc}:
            raise web.HTTPForbidden(text="This page is not crm-tui's own.\n")


def serving_message(server: CrmServer) -> str:
    host = server.host
    lines = [
        f"crm-tui serves {server.agent}'s session at {server.address}",
        f"Anyone who can reach {host}:{server.port} with this address acts as "
        f"{server.agent}: every change is recorded under {server.agent}'s name.",
    ]
    if is_loopback(host):
        lines.append(
            "Only this machine can reach it. From your own computer: "
            f"ssh -L {server.port}:127.0.0.1:{server.port} <this host>, then open the "
            "address above."
        )
    else:
        lines.append(
            f"WARNING: {host} is not a loopback address: other machines can reach this port."
        )
    lines.append("Ctrl+C stops the server and every session it started.")
    return "\n".join(lines)


def serve(options: ServeOptions, agent: str) -> None:
    """Serve until interrupted; each browser tab runs the app as this agent."""
    if options.database_url:
        os.environ["CRM_DATABASE_URL"] = options.database_url
    CrmServer(options, agent).serve()


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default
