"""OpenAI image generation (``POST /v1/images/generations``) and its Azure OpenAI deployment path.

Speaks the wire protocol the real ``openai`` client uses: Bearer auth on ``/v1/images/generations``;
``api-key`` (or Bearer) auth plus a required ``api-version`` query on
``/openai/deployments/{deployment}/images/generations``.  GPT Image models (``gpt-image-1``…) return
``data[].b64_json`` only; sizes ``1024x1024``, ``1536x1024``, ``1024x1536`` or ``auto``.  The image is
really painted (a gradient and soft shapes in the ``#RRGGBB`` colours named in the prompt, seeded by
the prompt), so a still built from it shows the brand colours.

Errors use OpenAI's body ``{"error": {"message", "type", "param", "code"}}``.  Faults, set through
``POST /_sim/openai/faults`` (``GET`` shows, ``DELETE`` clears), each count down and switch off:

* ``refusals``: the next N requests are refused like the safety system does (HTTP 400, code
  ``content_policy_violation``, or ``refusal_code: "moderation_blocked"`` as GPT Image models
  answer; Azure adds ``inner_error.code = "ResponsibleAIPolicyViolation"``);
* ``status`` + ``status_count``: the next N requests fail with 429 (``rate_limit_exceeded`` with
  ``retry-after`` / ``retry-after-ms`` headers when ``retry_after`` / ``retry_after_ms`` are set) or a 5xx;
* ``delay_s`` + ``delay_count``: the next N requests answer only after a delay (client timeouts).

``GET /_sim/openai/requests`` lists the generation requests received (path, auth, model, size,
prompt…) and ``DELETE`` clears them.  State lives on ``app.state`` under this module's own key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import random
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image, ImageDraw, ImageFilter
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

GPT_IMAGE_SIZES = frozenset({"1024x1024", "1536x1024", "1024x1536", "auto"})
DALLE3_SIZES = frozenset({"1024x1024", "1792x1024", "1024x1792"})
QUALITIES = frozenset({"low", "medium", "high", "auto"})
FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
MAX_PROMPT_CHARS = 32000
_HEX = re.compile(r"#([0-9a-fA-F]{6})\b")
_STATE_KEY = "openai_images"

REFUSAL_MESSAGES = {
    "content_policy_violation": (
        "Your request was rejected as a result of our safety system. Your prompt may contain text that is not "
        "allowed by our safety system."
    ),
    "moderation_blocked": (
        "Your request was rejected by the safety system. If you believe this is an error, contact us at "
        "help.openai.com and include the request ID {request_id}."
    ),
}


class OpenAIFaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refusals: int = Field(default=0, ge=0)
    refusal_code: Literal["content_policy_violation", "moderation_blocked"] = "content_policy_violation"
    status: int | None = Field(default=None, ge=429, le=599)
    status_count: int = Field(default=1, ge=0)
    retry_after: float | None = Field(default=None, ge=0)
    retry_after_ms: int | None = Field(default=None, ge=0)
    delay_s: float | None = Field(default=None, ge=0, le=600)
    delay_count: int = Field(default=1, ge=0)


@dataclass
class _State:
    refusals: int = 0
    refusal_code: str = "content_policy_violation"
    status: int | None = None
    status_left: int = 0
    retry_after: float | None = None
    retry_after_ms: int | None = None
    delay_s: float = 0.0
    delay_left: int = 0
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=500))

    def apply(self, cfg: OpenAIFaultConfig) -> None:
        given = cfg.model_fields_set
        if "refusals" in given:
            self.refusals, self.refusal_code = cfg.refusals, cfg.refusal_code
        if cfg.status is not None:
            self.status, self.status_left = cfg.status, cfg.status_count
            self.retry_after, self.retry_after_ms = cfg.retry_after, cfg.retry_after_ms
        if cfg.delay_s is not None:
            self.delay_s, self.delay_left = cfg.delay_s, cfg.delay_count

    def reset(self) -> None:
        """Clear every fault (the request log is kept)."""
        self.refusals, self.refusal_code = 0, "content_policy_violation"
        self.status, self.status_left, self.retry_after, self.retry_after_ms = None, 0, None, None
        self.delay_s, self.delay_left = 0.0, 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "refusals": self.refusals,
            "refusal_code": self.refusal_code,
            "status": self.status if self.status_left else None,
            "status_left": self.status_left,
            "retry_after": self.retry_after,
            "retry_after_ms": self.retry_after_ms,
            "delay_s": self.delay_s if self.delay_left else None,
            "delay_left": self.delay_left,
        }


def _state(request: Request) -> _State:
    state: _State | None = getattr(request.app.state, _STATE_KEY, None)
    if state is None:
        state = _State()
        setattr(request.app.state, _STATE_KEY, state)
    return state


def _error(
    status: int,
    message: str,
    *,
    type_: str,
    code: str | None,
    param: str | None = None,
    request_id: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code, **extra}}
    return JSONResponse(body, status_code=status, headers={"x-request-id": request_id, **(headers or {})})


def paint(prompt: str, width: int, height: int, fmt: str = "PNG") -> bytes:
    """A deterministic picture for ``prompt``: gradient and soft shapes in the prompt's hex colours."""
    rng = random.Random(hashlib.sha256(prompt.encode()).digest())
    colours = [tuple(int(h[i : i + 2], 16) for i in (0, 2, 4)) for h in _HEX.findall(prompt)]
    while len(colours) < 3:
        colours.append((rng.randrange(40, 220), rng.randrange(40, 220), rng.randrange(40, 220)))
    small = (max(8, width // 8), max(8, height // 8))
    top, bottom = colours[0], colours[1]
    ramp = Image.linear_gradient("L").resize(small)
    image = Image.composite(Image.new("RGB", small, bottom), Image.new("RGB", small, top), ramp)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(5, 9)):
        cx, cy = rng.uniform(0, small[0]), rng.uniform(0, small[1])
        r = rng.uniform(0.08, 0.3) * min(small)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colours[rng.randrange(len(colours))])  # type: ignore[arg-type]
    image = image.filter(ImageFilter.GaussianBlur(min(small) * 0.04)).resize((width, height), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"compress_level": 1} if fmt == "PNG" else {}))
    return buffer.getvalue()


def _validate(body: dict[str, Any], deployment: str | None) -> tuple[str, str, dict[str, Any]] | tuple[str, str]:
    """``(param, message)`` for an invalid request, else ``(model, size, normalised fields)``."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return ("prompt", "Missing required parameter: 'prompt'.")
    if len(prompt) > MAX_PROMPT_CHARS:
        return ("prompt", f"Invalid 'prompt': string too long. Expected a maximum length of {MAX_PROMPT_CHARS}.")
    model = str(body.get("model") or deployment or "dall-e-2")
    # An Azure deployment may have any name; it serves a GPT Image model unless it says dall-e.
    gpt_image = model.startswith("gpt-image") or (deployment is not None and not model.startswith("dall-e"))
    if not gpt_image and model != "dall-e-3":
        return ("model", f"The simulator serves GPT Image models and dall-e-3, not {model!r}.")
    size = str(body.get("size") or ("auto" if gpt_image else "1024x1024"))
    allowed = GPT_IMAGE_SIZES if gpt_image else DALLE3_SIZES
    if size not in allowed:
        return ("size", f"Invalid value: '{size}'. Supported values are: {', '.join(sorted(allowed))}.")
    if gpt_image and "response_format" in body and body["response_format"] is not None:
        return ("response_format", f"Unknown parameter: 'response_format' is not supported for {model}.")
    if not gpt_image and body.get("response_format", "url") != "b64_json":
        return ("response_format", "The simulator returns dall-e-3 images as b64_json only.")
    n = body.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= (10 if gpt_image else 1):
        return ("n", f"Invalid 'n': {n!r}.")
    quality = body.get("quality") or "auto"
    if gpt_image and quality not in QUALITIES:
        return ("quality", f"Invalid value: '{quality}'. Supported values are: {', '.join(sorted(QUALITIES))}.")
    output_format = body.get("output_format") or "png"
    if output_format not in FORMATS:
        return ("output_format", f"Invalid value: '{output_format}'. Supported values are: jpeg, png, webp.")
    return (model, size, {"prompt": prompt, "n": n, "quality": quality, "output_format": output_format})


async def _generate(request: Request, *, deployment: str | None) -> Response:
    state = _state(request)
    request_id = f"req_{secrets.token_hex(16)}"
    azure = deployment is not None
    if azure:
        key = request.headers.get("api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        if not request.query_params.get("api-version"):
            return _error(404, "Resource not found", type_="invalid_request_error", code="404", request_id=request_id)
    else:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip() if scheme.lower() == "bearer" else ""
    if not key.strip():
        return _error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header.",
            type_="invalid_request_error",
            code=None,
            request_id=request_id,
        )
    try:
        body = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(
            400,
            "We could not parse the JSON body of your request.",
            type_="invalid_request_error",
            code=None,
            request_id=request_id,
        )
    if not isinstance(body, dict):
        return _error(
            400,
            "The request body must be a JSON object.",
            type_="invalid_request_error",
            code=None,
            request_id=request_id,
        )
    state.requests.append(
        {
            "at": time.time(),
            "path": request.url.path,
            "azure": azure,
            "deployment": deployment,
            "api_version": request.query_params.get("api-version"),
            **{k: body.get(k) for k in ("model", "size", "prompt", "n", "quality", "output_format", "response_format")},
        }
    )

    if state.delay_left > 0:
        state.delay_left -= 1
        await asyncio.sleep(state.delay_s)
    if state.status_left > 0 and state.status is not None:
        state.status_left -= 1
        return _status_fault(state, request_id, body)
    if state.refusals > 0:
        state.refusals -= 1
        return _refusal(state.refusal_code, request_id, azure)

    checked = _validate(body, deployment)
    if len(checked) == 2:
        param, message = checked
        return _error(
            400, message, type_="invalid_request_error", code="invalid_value", param=param, request_id=request_id
        )
    model, size, fields = checked
    width, height = (1024, 1536) if size == "auto" else (int(v) for v in size.split("x"))
    fmt = FORMATS[fields["output_format"]]
    started = time.perf_counter()
    images = [
        await asyncio.to_thread(paint, f"{fields['prompt']}#{i}" if i else fields["prompt"], width, height, fmt)
        for i in range(fields["n"])
    ]
    data: list[dict[str, Any]] = [{"b64_json": base64.b64encode(img).decode()} for img in images]
    if model.startswith("dall-e"):
        for item in data:
            item["revised_prompt"] = fields["prompt"]
    tokens_in = max(1, len(fields["prompt"]) // 4)
    payload = {
        "created": int(time.time()),
        "background": "opaque",
        "data": data,
        "output_format": fields["output_format"],
        "quality": "medium" if fields["quality"] == "auto" else fields["quality"],
        "size": f"{width}x{height}",
        "usage": {
            "input_tokens": tokens_in,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": tokens_in},
            "output_tokens": 1056 * fields["n"],
            "total_tokens": tokens_in + 1056 * fields["n"],
        },
    }
    headers = {"x-request-id": request_id, "openai-processing-ms": str(round((time.perf_counter() - started) * 1000))}
    return JSONResponse(payload, headers=headers)


def _status_fault(state: _State, request_id: str, body: dict[str, Any]) -> JSONResponse:
    status = state.status or 500
    headers: dict[str, str] = {"X-Provider-Sim-Fault": "openai-status"}
    if state.retry_after is not None:
        headers["retry-after"] = f"{state.retry_after:g}"
    if state.retry_after_ms is not None:
        headers["retry-after-ms"] = str(state.retry_after_ms)
    if status == 429:
        model = body.get("model") or "gpt-image-1"
        message = (
            f"Rate limit reached for {model} in organization org-sim on images per minute (IPM): "
            "Limit 5, Used 5, Requested 1. Please try again later."
        )
        headers.update({"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "0"})
        return _error(
            429, message, type_="requests", code="rate_limit_exceeded", request_id=request_id, headers=headers
        )
    message = "The server had an error while processing your request. Sorry about that!"
    return _error(status, message, type_="server_error", code=None, request_id=request_id, headers=headers)


def _refusal(code: str, request_id: str, azure: bool) -> JSONResponse:
    message = REFUSAL_MESSAGES[code].format(request_id=request_id)
    type_ = "image_generation_user_error" if code == "moderation_blocked" else "invalid_request_error"
    extra: dict[str, Any] = {}
    if azure:
        extra["inner_error"] = {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_results": {"violence": {"filtered": True, "severity": "medium"}},
        }
    return _error(400, message, type_=type_, code=code, request_id=request_id, **extra)


async def generations(request: Request) -> Response:
    return await _generate(request, deployment=None)


async def azure_generations(request: Request) -> Response:
    return await _generate(request, deployment=request.path_params["deployment"])


async def set_faults(request: Request) -> Response:
    try:
        config = OpenAIFaultConfig.model_validate(json.loads(await request.body() or b"{}"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JSONResponse({"error": "Request body must be valid JSON."}, status_code=400)
    except ValidationError as exc:
        issues = [{"path": list(err["loc"]), "message": err["msg"]} for err in exc.errors()]
        return JSONResponse({"error": "Invalid fault configuration", "issues": issues}, status_code=400)
    state = _state(request)
    state.apply(config)
    return JSONResponse({"faults": state.snapshot()})


async def get_faults(request: Request) -> Response:
    return JSONResponse({"faults": _state(request).snapshot()})


async def reset_faults(request: Request) -> Response:
    _state(request).reset()
    return Response(status_code=204)


async def list_requests(request: Request) -> Response:
    return JSONResponse({"requests": list(_state(request).requests)})


async def clear_requests(request: Request) -> Response:
    _state(request).requests.clear()
    return Response(status_code=204)


routes = [
    Route("/v1/images/generations", generations, methods=["POST"]),
    Route("/openai/deployments/{deployment}/images/generations", azure_generations, methods=["POST"]),
    Route("/_sim/openai/faults", set_faults, methods=["POST"]),
    Route("/_sim/openai/faults", get_faults, methods=["GET"]),
    Route("/_sim/openai/faults", reset_faults, methods=["DELETE"]),
    Route("/_sim/openai/requests", list_requests, methods=["GET"]),
    Route("/_sim/openai/requests", clear_requests, methods=["DELETE"]),
]
