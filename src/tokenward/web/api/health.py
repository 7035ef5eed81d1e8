"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tokenward.web.deps import run

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get(
    "/readyz",
    summary="The database is reachable and its schema current",
    responses={503: {"description": "not ready"}},
)
async def readyz(request: Request) -> JSONResponse:
    problems: list[str] = await run(request.app.state.runtime.readiness)
    status = 503 if problems else 200
    return JSONResponse(
        {"status": "ready" if not problems else "not_ready", "problems": problems},
        status_code=status,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
