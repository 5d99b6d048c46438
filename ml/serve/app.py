"""The HTTP API: `POST /v1/assist` with a customer id and their message; OpenAPI at /docs.

Every answer that is not a reply is one plain sentence in `detail`. Nothing a customer wrote is
logged or sent back: a message too long, empty or not text is refused with its limit, not its
content (FastAPI's own validation errors would echo the input, so they are replaced).
"""

from __future__ import annotations

import hmac
from dataclasses import asdict
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from ml.serve import replies
from ml.serve.context import Analysts, Unavailable
from ml.serve.language import ModelsUnavailable, Reader

MAX_MESSAGE = 2000  # characters: a help desk message, not a document
MAX_BODY = 16 * 1024  # bytes of JSON, read before anything else
# Module-level: FastAPI reads the endpoints' annotations as strings, in the module's namespace.
BEARER = HTTPBearer(auto_error=False)


class Assist(BaseModel):
    customer_id: str = Field(description="The shop's customer id, as in the analysts' database.")
    message: str = Field(description=f"What the customer wrote, 1 to {MAX_MESSAGE:,} characters.")


class Refused(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def too_large(size: str) -> str:
    return f"The request has {size} bytes; the limit is {MAX_BODY:,}."


class BodyLimit:
    """Refuses a body over MAX_BODY bytes: by its Content-Length where it states one, else (a
    chunked request states none) by reading it here, up to one byte over the limit, and handing
    the app what was read."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > MAX_BODY:
            return await JSONResponse({"detail": too_large(f"{int(length):,}")}, status_code=413)(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                return await JSONResponse({"detail": too_large(f"more than {MAX_BODY:,}")},
                                          status_code=413)(scope, receive, send)
            more = message.get("more_body", False)
        replayed = False

        async def read_body():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, read_body, send)


def create_app(token: str, analysts: Analysts, reader: Reader, templates: replies.Templates) -> FastAPI:
    app = FastAPI(title="clm support copilot", version="1",
                  description="Reads a customer's message, looks the customer up in clm's analysts' database and "
                              "drafts a reply from the support team's templates.")
    async def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> None:
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise Refused(401, "Send clm serve's token as `Authorization: Bearer <token>`: CLM_SERVE_TOKEN, or the "
                               "file serve.token under CLM_HOME.")

    app.add_middleware(BodyLimit)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse({"detail": error.detail}, status_code=error.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = sorted({str(e["loc"][-1]) for e in error.errors() if e.get("loc")})
        return JSONResponse({"detail": f"Send a JSON object with the text fields customer_id and message "
                                       f"(wrong or missing: {', '.join(fields) or 'the body'})."}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(error.detail)}, status_code=error.status_code)

    @app.exception_handler(Unavailable)
    @app.exception_handler(ModelsUnavailable)
    async def unavailable(request: Request, error: Unavailable | ModelsUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503)

    @app.get("/v1/health", summary="Whether the API can answer: the analysts' database and the models it reads.")
    def health() -> dict:
        return {"intent": reader.champions["intent"].source, "sentiment": reader.champions["sentiment"].source,
                "analysts": analysts.state()}

    @app.post("/v1/assist", dependencies=[Depends(authorised)],
              summary="A customer's message in; its intent and sentiment, the customer's context and a drafted reply out.")
    async def assist(request: Assist) -> dict:
        message = request.message.strip()
        if not message:
            raise Refused(422, f"The message is empty; send what the customer wrote, 1 to {MAX_MESSAGE:,} characters.")
        if len(message) > MAX_MESSAGE:
            raise Refused(413, f"The message has {len(message):,} characters; the limit is {MAX_MESSAGE:,}.")
        customer = analysts.customer(request.customer_id.strip())
        reader.published(analysts.swaps)
        if customer is None:
            raise Refused(404, f"No customer {request.customer_id.strip()!r} in the latest scoring of the analysts' "
                               "database: check the id, or wait for the run after their first order.")
        reading = await reader.read(message)
        reply = replies.draft(templates, reading.intent, customer)
        context = asdict(customer)
        return {
            "customer_id": context.pop("customer_id"),
            "as_of": context.pop("as_of"),
            "intent": {"name": reading.intent, "confidence": reading.intent_confidence, "source": reading.intent_source},
            "sentiment": {"label": reading.sentiment, "score": reading.sentiment_score,
                          "source": reading.sentiment_source},
            "customer": context,
            "reply": {"draft": reply.text, "offer_made": reply.offer_made, "why": reply.why},
        }

    return app
