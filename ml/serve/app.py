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
from ml.serve.language import Reader

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


def create_app(token: str, analysts: Analysts, reader: Reader, templates: replies.Templates) -> FastAPI:
    app = FastAPI(title="clm support copilot", version="1",
                  description="Reads a customer's message, looks the customer up in clm's analysts' database and "
                              "drafts a reply from the support team's templates.")
    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> None:
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise Refused(401, "Send clm serve's token as `Authorization: Bearer <token>`: CLM_SERVE_TOKEN, or the "
                               "file serve.token under CLM_HOME.")

    @app.middleware("http")
    async def bounded(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return JSONResponse({"detail": f"The request has {int(length):,} bytes; the limit is {MAX_BODY:,}."},
                                status_code=413)
        return await call_next(request)

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
    async def unavailable(request: Request, error: Unavailable) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503)

    @app.get("/v1/health", summary="Whether the API can answer: the analysts' database and the models it reads.")
    def health() -> dict:
        return {"intent": reader.champions["intent"].source, "sentiment": reader.champions["sentiment"].source}

    @app.post("/v1/assist", dependencies=[Depends(authorised)],
              summary="A customer's message in; its intent and sentiment, the customer's context and a drafted reply out.")
    async def assist(request: Assist) -> dict:
        message = request.message.strip()
        if not message:
            raise Refused(422, f"The message is empty; send what the customer wrote, 1 to {MAX_MESSAGE:,} characters.")
        if len(message) > MAX_MESSAGE:
            raise Refused(413, f"The message has {len(message):,} characters; the limit is {MAX_MESSAGE:,}.")
        swaps = analysts.swaps
        customer = analysts.customer(request.customer_id.strip())
        if analysts.swaps != swaps:
            reader.refresh()  # a run published: it may have promoted new champions
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
