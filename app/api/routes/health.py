from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.api.deps import DatabaseDep, SettingsDep
from app.schemas.health import Liveness, Readiness


def _ping(db: Session) -> None:
    db.execute(text("SELECT 1"))


router = APIRouter(prefix="/health", tags=["health"])


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
async def check_readiness(database: DatabaseDep, settings: SettingsDep) -> Readiness | JSONResponse:
    """200 when the database answers a query within DB_READY_TIMEOUT, 503 otherwise."""
    try:
        await database.run_within(settings.db_ready_timeout, _ping)
    except SQLAlchemyError:
        body = Readiness(status="unavailable", database="unreachable")
        return JSONResponse(body.model_dump(), status_code=503)
    return Readiness(status="ok", database="ok")
