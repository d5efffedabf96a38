from fastapi import APIRouter

from app.api.deps import AnalyticsWorkDep, SuperUser
from app.api.json_body import StrictJSONRoute
from app.api.responses import responses
from app.schemas.analytics import Summary
from app.services import analytics as service

router = APIRouter(prefix="/analytics", tags=["analytics"], route_class=StrictJSONRoute)


@router.get(
    "/summary",
    response_model=Summary,
    operation_id="get_analytics_summary",
    responses=responses(401, 403),
    description="Superusers only. Read through the analytics database (a read-only "
    "replica when ANALYTICS_DATABASE_URL is set, else the primary, still read-only); "
    "503 when it cannot be reached, while the rest of the API carries on.",
)
async def get_analytics_summary(_: SuperUser, work: AnalyticsWorkDep) -> Summary:
    return await work.run(service.summary)
