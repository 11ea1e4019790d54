"""The local recording page and its small JSON API, served by Werkzeug on 127.0.0.1 only.

Routes::

    GET  /                     the page (page/index.html; page/*.js, *.css under /static/)
    GET  /api/state            prompts, what is recorded, the take limits
    POST /api/takes/<id>       an audio/wav take for prompt <id>: saved, or 422 with the reason
    GET  /api/takes/<id>       the saved take (to play it back)
    POST /api/finish           the user is done: the command prints what comes next and exits

Requests whose Host is not this server's loopback address are refused, so a web page the
user visits cannot reach the session through DNS rebinding. The page loads nothing from
outside (the Content-Security-Policy says so), so it works offline.
"""

from __future__ import annotations

import errno
import importlib.resources
import json
import logging
import socket
import threading
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from whisper_tune.errors import DataError, TakeRejected, WhisperTuneError
from whisper_tune.record.session import RecordingSession

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: The page's files and their content types; nothing else is served from the package.
PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "capture-worklet.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
#: A 29 s take at 48 kHz in 32-bit float stereo is 11 MB; anything larger is not a take.
MAX_TAKE_BYTES = 16 * 1024 * 1024
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_ROUTES = Map(
    [
        Rule("/", endpoint="index", methods=["GET"]),
        Rule("/static/<name>", endpoint="static", methods=["GET"]),
        Rule("/api/state", endpoint="state", methods=["GET"]),
        Rule("/api/takes/<prompt_id>", endpoint="save_take", methods=["POST"]),
        Rule("/api/takes/<prompt_id>", endpoint="get_take", methods=["GET"]),
        Rule("/api/finish", endpoint="finish", methods=["POST"]),
    ]
)


class RecorderApp:
    """The WSGI application: dispatches the routes above to a :class:`RecordingSession`."""

    def __init__(self, session: RecordingSession, port: int) -> None:
        self.session = session
        self.finished = threading.Event()
        self.port = port

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self.respond(request)
        response.headers.update(_SECURITY_HEADERS)
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        if not self.host_allowed(request.host):
            return _json({"error": f"this server answers only {HOST}"}, 403)
        try:
            endpoint, values = _ROUTES.bind_to_environ(request.environ).match()
            return getattr(self, f"on_{endpoint}")(request, **values)
        except HTTPException as exc:
            return _json({"error": exc.description or exc.name}, exc.code or 500)
        except TakeRejected as exc:
            return _json({"error": str(exc)}, 422)
        except WhisperTuneError as exc:
            return _json({"error": str(exc)}, 409)

    def host_allowed(self, host: str) -> bool:
        """Only this server's own loopback names: a rebinding attacker's Host never matches."""
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "80")
        return name in (HOST, "localhost") and port == str(self.port)

    def on_index(self, request: Request) -> Response:
        return self.on_static(request, "index.html")

    def on_static(self, request: Request, name: str) -> Response:
        if name not in PAGE_FILES:
            raise NotFound()
        body = (importlib.resources.files("whisper_tune.record") / "page" / name).read_bytes()
        return Response(body, content_type=PAGE_FILES[name])

    def on_state(self, request: Request) -> Response:
        return _json(self.session.state())

    def on_save_take(self, request: Request, prompt_id: str) -> Response:
        if request.content_length is not None and request.content_length > MAX_TAKE_BYTES:
            return _json({"error": f"the take is over {MAX_TAKE_BYTES // 2**20} MB; keep takes under 29 s"}, 413)
        data = request.get_data(cache=False)
        result = self.session.save_take(prompt_id, data)
        log.info("prompt %s recorded (%.1f s)", prompt_id, result["duration"])
        return _json(result)

    def on_get_take(self, request: Request, prompt_id: str) -> Response:
        path = self.session.take_file(prompt_id)
        return Response(path.read_bytes(), content_type="audio/wav")

    def on_finish(self, request: Request) -> Response:
        self.finished.set()
        return _json({"finished": True})


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, content_type="application/json")


class RecorderServer:
    """Serves a session on ``127.0.0.1:port`` (0: any free port) in a background thread."""

    def __init__(self, session: RecordingSession, port: int = 0) -> None:
        listener = _listen(port)
        try:
            self.app = RecorderApp(session, listener.getsockname()[1])
            self._server: BaseWSGIServer = make_server(HOST, port, self.app, threaded=True, fd=listener.fileno())
        finally:
            listener.close()  # the server holds its own duplicate of the socket
        self._thread = threading.Thread(target=self._server.serve_forever, name="whisper-tune-record", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.port}/"

    def start(self) -> RecorderServer:
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the page says it is finished (True) or ``timeout`` passes (False)."""
        return self.app.finished.wait(timeout)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> RecorderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _listen(port: int) -> socket.socket:
    """A listening socket on the loopback address, or a :class:`DataError` naming the port."""
    if not 0 <= port <= 65535:
        raise DataError(f"`port` {port}: expected a port number from 1 to 65535 (0 picks a free one)")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # Linux still refuses a port in use
    try:
        listener.bind((HOST, port))
        listener.listen(64)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise DataError(
                f"`port` {port}: the port is in use by another program; pick another, e.g. `port` {port + 1}"
            ) from exc
        raise DataError(f"`port` {port}: cannot listen on {HOST}:{port} ({exc.strerror or exc})") from exc
    return listener
