"""The decide requests' short way through the app.

Every request to a FastAPI app passes its exception middleware, its dependency-cleanup
middleware, its router and the included routers' dispatch, then the route's wrapper;
together about a seventh of the server's processor time per decision (measured with
``bench/http/serve_throughput.py``). The two decide
endpoints need none of it: their handler reads the request itself and turns its own
errors into problem bodies. :class:`DecideFront` is an ASGI middleware placed just inside
Starlette's server-error middleware: it sends a ``POST`` to
``/v1/pipelines/{name}/decide`` or ``.../decide-batch`` straight to
:meth:`ServeService.handle` and every other request on to the app, where the same two
routes are also registered (for anything the exact match here does not take, such as a
path with a trailing slash, which the router redirects).

A :class:`ServeError` becomes the same problem body as through the app's handler; any
other exception goes up to the server-error middleware, whose handler answers S500.
"""

from __future__ import annotations

import re

from starlette._utils import get_route_path  # how the router strips root_path
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from kaskad.serve.errors import ServeError
from kaskad.serve.jsonio import problem_response
from kaskad.serve.service import Endpoint, ServeService

# the routes' own pattern: {name} matches one path segment
_DECIDE = re.compile(r"/v1/pipelines/(?P<name>[^/]+)/(?P<endpoint>decide|decide-batch)")


class DecideFront:
    """Routes the decide requests to the service directly; see the module's text."""

    def __init__(self, app: ASGIApp, service: ServeService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _DECIDE.fullmatch(get_route_path(scope))
            if match is not None:
                name = match["name"]
                endpoint: Endpoint = "decide" if match["endpoint"] == "decide" else "decide-batch"
                scope["path_params"] = {"name": name}
                request = Request(scope, receive, send)
                try:
                    response = await self.service.handle(name, endpoint, request)
                except ServeError as exc:
                    response = problem_response(exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
