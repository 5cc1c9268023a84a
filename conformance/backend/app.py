"""The backend's ASGI application: fault selection, auth, routing.

Routes (each also below a ``/fault/<name>`` prefix):

==============================================  =====================================
``POST /v1/chat/completions``                   OpenAI Chat Completions (gpt-4o-mini...)
``POST /nebulablock/v1/chat/completions``       NebulaBlock flavour (Llama 3.3 70B)
``POST /weai/v1/chat/completions``              WeAI flavour (llama3.1-8B, llama3.1-70B)
``POST /v1/text-generation/``                   Wetrocloud (form, ``Token`` auth)
``GET  /v1/models`` (and the flavours' own)     the models list
``GET  /v1/models/<id>`` (and the flavours')    one model (404 model_not_found)
``GET  /stats``, ``POST /stats/reset``          the backend's own timing lateness
``GET  /faults``                                the fault registry as JSON
``GET  /``                                      routes and configuration
==============================================  =====================================

Per-request headers: ``X-Conformance-Fault`` (a fault name, or ``none``),
``X-Conformance-TTFT-Ms`` and ``X-Conformance-ITL-Ms`` (timing overrides) and
``X-Conformance-Midstream-Error: K`` (fail correctly, with an SSE error event, after K
tokens). The chat route is a lean ASGI handler; the rest is a Starlette application.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from conformance._version import __version__
from conformance.backend.asgi import ClientGone
from conformance.backend.chat import RequestContext, handle_chat, send_error
from conformance.backend.config import FLAVOUR_OWNERS, BackendConfig
from conformance.backend.errors import (
    RequestError,
    invalid,
    method_not_allowed,
    missing_key,
    model_not_found,
    not_found,
    wrong_key,
)
from conformance.backend.faults import FAULTS, Fault
from conformance.backend.intake import received_at
from conformance.backend.stats import Stats
from conformance.backend.wetrocloud import handle_text_generation

CHAT_PATHS: dict[str, str] = {
    "/v1/chat/completions": "openai",
    "/nebulablock/v1/chat/completions": "nebulablock",
    "/weai/v1/chat/completions": "weai",
}
TEXT_GENERATION_PATHS = frozenset({"/v1/text-generation/", "/v1/text-generation"})
MODEL_PATHS: dict[str, str] = {
    "/v1/models": "openai",
    "/nebulablock/v1/models": "nebulablock",
    "/weai/v1/models": "weai",
}
#: ``created`` of every model entry (a fixed Unix time: 2023-11-14)
MODELS_CREATED = 1700000000
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("POST", "/v1/chat/completions", "OpenAI Chat Completions (the models GET /v1/models lists)"),
    ("POST", "/nebulablock/v1/chat/completions", "NebulaBlock flavour (its listed model)"),
    ("POST", "/weai/v1/chat/completions", "WeAI flavour (llama3.1-8B, llama3.1-70B)"),
    ("POST", "/v1/text-generation/", "Wetrocloud (multipart form, Token auth)"),
    ("GET", "/v1/models", "models (also /nebulablock/v1/models, /weai/v1/models)"),
    ("GET", "/v1/models/<id>", "one model (also below the flavours' prefixes)"),
    ("GET", "/stats", "the backend's own timing lateness (POST /stats/reset clears it)"),
    ("GET", "/faults", "the fault registry"),
    ("ANY", "/fault/<name>/...", "any route above with a fault mode"),
)


class BackendApp:
    """The reference backend as an ASGI application (see the module docstring)."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.stats = Stats(config.ttft_ms, config.itl_ms)
        self._keys = frozenset(config.api_keys)
        self._default_fault = FAULTS[config.fault] if config.fault else None
        self._site = self._starlette()

    # ------------------------------------------------------------ ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._site(scope, receive, send)
            return
        entered = time.monotonic()
        t0 = received_at(scope, entered)
        self.stats.intake.add(entered - t0)
        path: str = scope["path"]
        prefix_fault: str | None = None
        if path.startswith("/fault/"):
            prefix_fault, _, rest = path[7:].partition("/")
            path = "/" + rest
        flavour = CHAT_PATHS.get(path)
        if flavour is None and path in TEXT_GENERATION_PATHS:
            flavour = "wetrocloud"
        authorization: str | None = None
        header_fault: str | None = None
        ttft_ms: float = self.config.ttft_ms
        itl_ms: float = self.config.itl_ms
        midstream: int | None = None
        ctx = RequestContext(self.config, self.stats, None, flavour or "openai", 0.0, 0.0, t0)
        try:
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                elif name.startswith(b"x-conformance-"):
                    text = value.decode("latin-1").strip()
                    if name == b"x-conformance-fault":
                        header_fault = text
                    elif name == b"x-conformance-ttft-ms":
                        ttft_ms = _milliseconds("X-Conformance-TTFT-Ms", text)
                    elif name == b"x-conformance-itl-ms":
                        itl_ms = _milliseconds("X-Conformance-ITL-Ms", text)
                    elif name == b"x-conformance-midstream-error":
                        if not text.isdigit():
                            raise invalid(
                                "X-Conformance-Midstream-Error must be an integer >= 0.", None
                            )
                        midstream = int(text)
            ctx.fault = self._fault(prefix_fault, header_fault)
        except RequestError as error:
            await send_error(send, ctx, error)
            return
        ctx.ttft, ctx.itl, ctx.midstream_error_after = ttft_ms / 1000, itl_ms / 1000, midstream
        method: str = scope["method"]
        is_models = _models_path(path)
        if flavour is not None or is_models:
            if flavour is not None and method != "POST":
                await send_error(send, ctx, method_not_allowed(method, path))
                return
            refusal = self._auth(authorization, ctx)
            if refusal is not None:
                await send_error(send, ctx, refusal)
                return
        try:
            if flavour == "wetrocloud":
                await handle_text_generation(scope, receive, send, ctx)
            elif flavour is not None:
                await handle_chat(scope, receive, send, ctx)
            else:
                inner = dict(scope)
                inner["path"] = path
                inner["raw_path"] = path.encode()
                inner["conformance.context"] = ctx
                await self._site(inner, receive, send)
        except ClientGone:
            return
        except RequestError as error:
            await send_error(send, ctx, error)

    # ------------------------------------------------------------ helpers

    def _fault(self, prefix: str | None, header: str | None) -> Fault | None:
        chosen = prefix if prefix is not None else header
        if chosen is None:
            return self._default_fault
        if chosen.lower() == "none":
            return None
        fault = FAULTS.get(chosen)
        if fault is None:
            raise RequestError(
                404,
                f"Unknown fault {chosen!r}; GET /faults lists them.",
                "invalid_request_error",
                None,
                "unknown_fault",
            )
        return fault

    def _auth(self, authorization: str | None, ctx: RequestContext) -> RequestError | None:
        """None when the request may proceed, else the 401 to send."""
        fault = ctx.fault_name
        scheme = "Token" if ctx.flavour == "wetrocloud" else "Bearer"
        given_scheme, _, key = (authorization or "").strip().partition(" ")
        key = key.strip()
        if fault == "wc_token_scheme_rejected":
            # a server that implemented OpenAI's Bearer instead of the documented Token
            if given_scheme.lower() == "token":
                return RequestError(
                    401,
                    "Invalid authentication scheme.",
                    "invalid_request_error",
                    None,
                    "invalid_api_key",
                )
            if given_scheme.lower() == "bearer" and (not self._keys or key in self._keys):
                return None
        if not self._keys:
            return None
        if not authorization or not authorization.strip():
            return None if fault == "missing_key_accepted" else _for(ctx, missing_key())
        if given_scheme.lower() == scheme.lower() and key in self._keys:
            return None
        if fault == "wrong_key_accepted" and key:
            return None
        return _for(ctx, wrong_key())

    # ------------------------------------------------------------ Starlette side

    def _starlette(self) -> Starlette:
        async def info(request: Request) -> Response:
            return JSONResponse(
                {
                    "name": "conformance reference backend",
                    "version": __version__,
                    "routes": [{"method": m, "path": p, "what": w} for m, p, w in ROUTES],
                    "ttft_ms": self.config.ttft_ms,
                    "itl_ms": self.config.itl_ms,
                    "fault": self.config.fault,
                    "auth": "keys required" if self._keys else "any key accepted",
                }
            )

        async def stats(request: Request) -> Response:
            return JSONResponse(self.stats.snapshot())

        async def reset(request: Request) -> Response:
            self.stats.reset()
            return JSONResponse(self.stats.snapshot())

        async def faults(request: Request) -> Response:
            return JSONResponse(
                {
                    name: {
                        "category": f.category,
                        "breaks": f.breaks,
                        "correct": f.correct,
                        "dialects": sorted(f.dialects),
                        "needs": sorted(f.needs),
                        "hangs": f.hangs,
                    }
                    for name, f in FAULTS.items()
                }
            )

        async def models(request: Request) -> Response:
            ctx: RequestContext = request.scope["conformance.context"]
            flavour = MODEL_PATHS[request.url.path]
            fault = ctx.fault_name
            if fault == "models_missing":
                raise HTTPException(404)
            names = self.config.models_of(flavour)
            if fault == "models_unlisted":
                names = names[1:]
            entries = [_model_entry(n, flavour, fault) for n in names]
            if fault == "models_bare_array":
                return JSONResponse(entries)
            if fault == "models_ollama_shape":
                return JSONResponse({"models": [_ollama_tag(n) for n in names]})
            body: dict[str, Any] = {"object": "list", "data": entries}
            if fault == "ok_extra_fields":
                body["models"] = [{"name": n, "model": n} for n in names]  # as llama.cpp adds
            return JSONResponse(body)

        async def model(request: Request) -> Response:
            ctx: RequestContext = request.scope["conformance.context"]
            flavour = MODEL_PATHS[request.url.path.rsplit("/models/", 1)[0] + "/models"]
            fault = ctx.fault_name
            if fault == "models_missing":
                raise HTTPException(404)
            names = self.config.models_of(flavour)
            wanted = request.path_params["model"]
            if wanted not in names:
                error = model_not_found(wanted, names)
                return Response(error.envelope_bytes(), 404, media_type="application/json")
            if fault == "models_retrieve_broken":
                entries = [_model_entry(n, flavour, fault) for n in names]
                return JSONResponse({"object": "list", "data": entries})
            return JSONResponse(_model_entry(wanted, flavour, fault))

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            if exc.status_code == 405:
                error = method_not_allowed(request.method, request.url.path)
            elif exc.status_code == 404:
                error = not_found(request.url.path)
            else:
                error = RequestError(exc.status_code, str(exc.detail))
            return Response(error.envelope_bytes(), error.status, media_type="application/json")

        routes = [
            Route("/", info, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/stats/reset", reset, methods=["POST"]),
            Route("/faults", faults, methods=["GET"]),
            *(Route(path, models, methods=["GET"]) for path in MODEL_PATHS),
            *(Route(path + "/{model:path}", model, methods=["GET"]) for path in MODEL_PATHS),
        ]
        return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


def _models_path(path: str) -> bool:
    """``path`` is a model list (``/v1/models``) or one model (``/v1/models/<id>``)."""
    if path in MODEL_PATHS:
        return True
    head, sep, rest = path.rpartition("/models/")
    return bool(sep and rest) and head + "/models" in MODEL_PATHS


def _model_entry(name: str, flavour: str, fault: str) -> dict[str, Any]:
    """One model object: ``id``, ``object: "model"``, integer ``created``, ``owned_by``."""
    entry: dict[str, Any] = {
        "id": name,
        "object": "model",
        "created": MODELS_CREATED,
        "owned_by": FLAVOUR_OWNERS.get(flavour, "conformance"),
    }
    if fault == "ok_extra_fields":
        # what vLLM adds to each entry
        entry.update(root=name, parent=None, max_model_len=16384, permission=[])
    return entry


def _ollama_tag(name: str) -> dict[str, Any]:
    """One entry of Ollama's native model list (``GET /api/tags``)."""
    return {
        "name": name,
        "model": name,
        "modified_at": "2024-11-14T10:00:00.000000000Z",
        "size": 4920753328,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {"format": "gguf", "family": "llama"},
    }


def _for(ctx: RequestContext, error: RequestError) -> RequestError:
    """Say 'Token' instead of 'Bearer' in messages on the Wetrocloud path."""
    if ctx.flavour == "wetrocloud":
        error.message = error.message.replace("Bearer", "Token")
    return error


def _milliseconds(header: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 600_000:
        raise invalid(f"{header} must be a number of milliseconds between 0 and 600000.", None)
    return value


class _QuietDrops(logging.Filter):
    """Drops uvicorn's complaint about a response left unfinished: the
    ``connection_dropped`` fault does that on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def create_app(config: BackendConfig | None = None) -> BackendApp:
    """The reference backend as an ASGI application (for uvicorn or httpx.ASGITransport)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())
    return BackendApp(config or BackendConfig())


__all__ = ["BackendApp", "create_app"]
