"""Liveness and readiness probes (open, unauthenticated)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from app.core.db import get_engine
from app.core.queue import broker_is_reachable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Async on purpose: a sync route waits for a worker thread, so a saturated thread pool made the liveness
    probe fail and the process look dead exactly when it was busiest."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz() -> JSONResponse:
    checks = {
        "database": await run_in_threadpool(_database_ok),
        "broker": await run_in_threadpool(broker_is_reachable),
    }
    failing = [name for name, ok in checks.items() if not ok]
    if failing:
        body = {"status": "unavailable", "failing": failing, "detail": f"not answering: {', '.join(failing)}"}
        return JSONResponse(status_code=503, content=body)
    return JSONResponse(content={"status": "ok"})


def _database_ok() -> bool:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
