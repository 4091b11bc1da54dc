"""Host an Azure Functions Python app's HTTP functions on a local port: the embedded stand-in for a deployment.

Run as a script, never imported by the factory: ``python function_host.py PROJECT_DIR SOCKET``. It
loads ``PROJECT_DIR/function_app.py`` (Python v2 programming model), serves every HTTP-triggered
function under the route prefix of ``host.json`` (``api`` by default) with werkzeug on the Unix
socket ``SOCKET`` (it runs in a jail without a network; the factory forwards a loopback port to
the socket), prints ``LISTENING`` and serves until it is killed. Function keys are not checked
(like ``func start``); output bindings get an ``Out`` that records what the function set,
readable at ``GET /.factory/published``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from pathlib import Path
from typing import Any

import azure.functions as func
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

PUBLISHED: list[dict[str, Any]] = []
_LOCK = threading.Lock()


class RecordingOut(func.Out[Any]):
    def __init__(self, binding: str, function: str) -> None:
        self.binding, self.function, self.value = binding, function, None

    def set(self, val: Any) -> None:
        self.value = val
        with _LOCK:
            PUBLISHED.append({"function": self.function, "binding": self.binding, "value": val})

    def get(self) -> Any:
        return self.value


def load_app(project: Path) -> func.FunctionApp:
    sys.path.insert(0, str(project))
    spec = importlib.util.spec_from_file_location("function_app", project / "function_app.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"{project}/function_app.py cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    spec.loader.exec_module(module)
    app: func.FunctionApp = module.app
    return app


def route_prefix(project: Path) -> str:
    try:
        host = json.loads((project / "host.json").read_text(encoding="utf-8"))
        return str(host.get("extensions", {}).get("http", {}).get("routePrefix", "api")).strip("/")
    except (OSError, ValueError):
        return "api"


def build(project: Path) -> Any:
    app = load_app(project)
    prefix = route_prefix(project)
    rules, handlers = [], {}
    for function in app.get_functions():
        if not function.is_http_function():
            continue
        trigger: Any = function.get_trigger()
        methods = [str(getattr(m, "value", m)).upper() for m in (trigger.methods or ["GET", "POST"])]
        path = "/" + "/".join(p for p in (prefix, trigger.route or function.get_function_name()) if p)
        name = function.get_function_name()
        bindings = json.loads(function.get_function_json())["bindings"]  # what the Functions host reads
        outs = [b["name"] for b in bindings if str(b.get("direction")).upper() == "OUT" and b["name"] != "$return"]
        handlers[name] = (function.get_user_function(), outs)
        rules.append(Rule(path.replace("{", "<").replace("}", ">"), methods=methods, endpoint=name))
    url_map = Map(rules)

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/.factory/published":
            with _LOCK:
                return Response(json.dumps(PUBLISHED), mimetype="application/json")(environ, start_response)
        try:
            endpoint, params = url_map.bind_to_environ(environ).match()
        except HTTPException as exc:
            return exc(environ, start_response)
        user_function, outs = handlers[endpoint]
        req = func.HttpRequest(method=request.method, url=request.url, headers=dict(request.headers),
                               params=dict(request.args), route_params=params, body=request.get_data())
        kwargs = {name: RecordingOut(name, endpoint) for name in outs}
        result = user_function(req, **kwargs)
        response = Response(result.get_body(), status=result.status_code, mimetype=result.mimetype,
                            headers=dict(result.headers))
        return response(environ, start_response)

    return wsgi


def main() -> None:
    project, socket_path = Path(sys.argv[1]).resolve(), sys.argv[2]
    server = make_server(f"unix://{socket_path}", 0, build(project), threaded=True)
    print(f"LISTENING unix://{socket_path}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
