"""``OpenAIChatModel``: the model port over the ``openai`` SDK (Azure OpenAI or any OpenAI-compatible endpoint).

Azure OpenAI is called keyless: ``AzureOpenAI`` with an Entra ID token provider (the app's managed
identity holds ``Cognitive Services OpenAI User``; the account has local auth off), the deployment
name and API version from settings. Any other OpenAI-compatible endpoint (a local server, OpenAI
itself) goes through ``OpenAI(base_url=...)`` with the same request.

Every answer is asked for as structured output (``response_format`` ``json_schema``). The SDK's own
retries are off (``max_retries=0``) so that one policy, tenacity's, decides: rate limits (429),
server errors (5xx), timeouts and dropped connections are retried with capped, jittered exponential
back-off, and a ``Retry-After`` the service sends is honoured (up to the cap; a longer wait gives
the message back to the bus instead of holding the handler). A refusal, a content-filter block,
authentication, a missing deployment, no quota or a bad request are permanent and end at once.
The sleep and the timer are injectable so tests prove the waits without waiting.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from shared.ports.model import ModelAnswer, ModelError, ModelRequest, ModelUsage

#: the scope of an Entra ID token for Azure OpenAI (Cognitive Services)
AZURE_OPENAI_SCOPE = "https://cognitiveservices.azure.com/.default"

_TRANSIENT_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class TransientCallError(Exception):
    """One attempt failed in a way another attempt may not: carries the SDK error and any Retry-After."""

    def __init__(self, error: Exception, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def retry_after_seconds(headers: Mapping[str, str] | None, now: datetime | None = None) -> float | None:
    """Seconds a response asks the client to wait: ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) / divisor)
        except ValueError:
            if name == "retry-after":
                try:
                    when = email.utils.parsedate_to_datetime(raw)
                except (TypeError, ValueError):
                    return None
                return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return None


class _AskedToWaitTooLong(stop_base):
    """tenacity stop: the service asked for a longer wait than the cap; the bus redelivers later instead."""

    def __init__(self, cap_s: float) -> None:
        self.cap_s = cap_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        return isinstance(error, TransientCallError) and error.retry_after is not None \
            and error.retry_after > self.cap_s


class _WaitHonouringRetryAfter:
    """tenacity wait: the service's Retry-After when it sent one, else jittered exponential back-off."""

    def __init__(self, fallback: Callable[[RetryCallState], float]) -> None:
        self.fallback = fallback

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientCallError) and error.retry_after is not None:
            return error.retry_after
        return self.fallback(state)


def _body_code(body: object) -> str:
    """The ``code`` of an OpenAI/Azure error body (``{"error": {"code": ...}}`` or ``{"code": ...}``)."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            code = inner.get("code") or ""
            innererror = inner.get("innererror")
            if isinstance(innererror, Mapping) and innererror.get("code") == "ResponsibleAIPolicyViolation":
                return "content_filter"
            return str(code)
    return ""


class OpenAIChatModel:
    """The model port over an ``openai`` client (built on first use, so importing this loads no SDK)."""

    def __init__(self, *, model: str, where: str, client_factory: Callable[[], Any], max_attempts: int = 4,
                 max_backoff_s: float = 20.0, sleep: Callable[[float], None] = time.sleep,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self._model = model
        self._where = where
        self._client_factory = client_factory
        self._client: Any = None
        self.max_attempts = max_attempts
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._timer = timer

    # ------------------------------------------------------------------ construction

    @classmethod
    def compatible(cls, *, base_url: str, model: str, api_key: str | None, timeout_s: float,
                   **options: Any) -> OpenAIChatModel:
        """Any OpenAI-compatible endpoint (``base_url`` ends in ``/v1`` for most servers)."""

        def factory() -> Any:
            from openai import OpenAI

            # a local server needs no key, but the SDK insists on one: say so instead of inventing a secret
            return OpenAI(base_url=base_url, api_key=api_key or "no-key-configured", timeout=timeout_s,
                          max_retries=0)

        return cls(model=model, where=f"OpenAI-compatible endpoint {base_url}", client_factory=factory, **options)

    @classmethod
    def azure(cls, *, endpoint: str, deployment: str, api_version: str, token_provider: Callable[[], str],
              timeout_s: float, **options: Any) -> OpenAIChatModel:
        """Azure OpenAI, keyless: every request carries an Entra ID token from ``token_provider``."""

        def factory() -> Any:
            from openai import AzureOpenAI

            return AzureOpenAI(azure_endpoint=endpoint, azure_deployment=deployment, api_version=api_version,
                               azure_ad_token_provider=token_provider, timeout=timeout_s, max_retries=0)

        return cls(model=deployment, where=f"Azure OpenAI {endpoint} (deployment {deployment}, API {api_version}, "
                   "Entra ID)", client_factory=factory, **options)

    # ------------------------------------------------------------------ the port

    @property
    def model(self) -> str:
        return self._model

    def describe(self) -> str:
        return f"{self._model} at {self._where}"

    def complete(self, request: ModelRequest) -> ModelAnswer:
        started = self._timer()
        retrying = Retrying(
            sleep=self._sleep,
            stop=stop_any(stop_after_attempt(self.max_attempts), _AskedToWaitTooLong(self.max_backoff_s)),
            wait=_WaitHonouringRetryAfter(wait_random_exponential(multiplier=0.5, max=self.max_backoff_s)),
            retry=retry_if_exception(lambda e: isinstance(e, TransientCallError)),
            reraise=True,
        )
        try:
            response = retrying(self._attempt, request)
        except TransientCallError as exc:
            waited = f"; the service asked to wait {exc.retry_after:g}s" if exc.retry_after is not None else ""
            attempts = retrying.statistics.get("attempt_number", self.max_attempts)
            raise ModelError(
                f"{self.describe()} did not answer after {attempts} attempt(s) "
                f"({type(exc.error).__name__}: {exc.error}{waited}); the message is redelivered later",
                kind="transient") from exc.error
        latency_ms = round((self._timer() - started) * 1000.0, 1)
        return self._answer(response, latency_ms)

    # ------------------------------------------------------------------ one attempt

    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _attempt(self, request: ModelRequest) -> Any:
        import openai

        try:
            return self.client().chat.completions.create(
                model=self._model,
                messages=[asdict(m) for m in request.messages],
                response_format={"type": "json_schema", "json_schema": {
                    "name": request.schema_name, "schema": dict(request.schema), "strict": False}},
                max_completion_tokens=request.max_tokens,
            )
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise TransientCallError(exc, None) from exc
        except openai.APIStatusError as exc:
            code = _body_code(exc.body)
            if code == "content_filter":
                raise ModelError(f"{self.describe()}: the content filter blocked the prompt ({exc.status_code}: "
                                 f"{exc.message}); rephrase the input", kind="content-filter") from exc
            if exc.status_code == 429 and code == "insufficient_quota":
                raise ModelError(f"{self.describe()}: no quota left ({exc.message}); raise the quota or the "
                                 "deployment's capacity", kind="permanent") from exc
            if exc.status_code in _TRANSIENT_STATUS or exc.status_code >= 500:
                raise TransientCallError(exc, retry_after_seconds(dict(exc.response.headers))) from exc
            hint = {401: "the identity has no token the service accepts (check the app's managed identity)",
                    403: "the identity lacks the 'Cognitive Services OpenAI User' role on the account",
                    404: "the deployment or model name is wrong (FACTORY_MODEL_DEPLOYMENT / FACTORY_MODEL_NAME)"
                    }.get(exc.status_code, "the request was refused")
            raise ModelError(f"{self.describe()} answered {exc.status_code}: {exc.message}; {hint}",
                             kind="permanent") from exc

    def _answer(self, response: Any, latency_ms: float) -> ModelAnswer:
        usage_info = getattr(response, "usage", None)
        usage = ModelUsage(int(getattr(usage_info, "prompt_tokens", 0) or 0),
                           int(getattr(usage_info, "completion_tokens", 0) or 0), latency_ms)
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise ModelError(f"{self.describe()} answered without a choice", kind="permanent", usage=usage)
        choice = choices[0]
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise ModelError(f"the model refused: {refusal}", kind="refused", usage=usage)
        finish = str(choice.finish_reason or "stop")
        if finish == "content_filter":
            raise ModelError(f"{self.describe()}: the content filter blocked the answer", kind="content-filter",
                             usage=usage)
        return ModelAnswer(content=str(message.content or ""), model=self._model, usage=usage, finish_reason=finish)
