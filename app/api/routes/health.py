import asyncio
import threading

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.api.deps import SettingsDep
from app.db.session import Databases, databases_of
from app.schemas.health import Liveness, Readiness
from app.services.unit_of_work import UnitOfWork

router = APIRouter(prefix="/health", tags=["health"])

# Set when this process has been told to stop and drains (`python -m app serve --drain`,
# app/serve.py): readiness says 503 so that the load balancer sends nothing new, while
# the process still serves whatever reaches it.
draining = threading.Event()


def _select_one(db: Session) -> None:
    db.execute(text("SELECT 1"))


async def _ping(databases: Databases) -> None:
    await UnitOfWork(databases.SessionLocal, databases.queue).run(_select_one)


def _retrieve(call: "asyncio.Future[None]") -> None:
    # What a ping that outlived its answer raises was answered for already (503).
    if not call.cancelled():
        call.exception()


@router.get("/live", response_model=Liveness, operation_id="check_liveness")
async def check_liveness() -> Liveness:
    """200 while the process runs; touches nothing else."""
    return Liveness()


@router.get(
    "/ready",
    response_model=Readiness,
    operation_id="check_readiness",
    responses={503: {"model": Readiness, "description": "The database cannot be reached"}},
)
async def check_readiness(request: Request, settings: SettingsDep) -> Readiness | JSONResponse:
    """200 when the database answers a query within DB_READY_TIMEOUT, 503 otherwise, and
    503 while the process drains before it stops."""
    # Readiness answers sooner than the statement timeout. The ping itself cannot be
    # interrupted safely; it carries on, within the connect and statement timeouts.
    ping = asyncio.ensure_future(_ping(databases_of(request)))
    ping.add_done_callback(_retrieve)
    try:
        await asyncio.wait_for(asyncio.shield(ping), settings.db_ready_timeout)
    except (SQLAlchemyError, TimeoutError):
        body = Readiness(status="unavailable", database="unreachable")
        return JSONResponse(body.model_dump(), status_code=503)
    if draining.is_set():
        body = Readiness(status="unavailable", database="ok")
        return JSONResponse(body.model_dump(), status_code=503)
    return Readiness(status="ok", database="ok")
