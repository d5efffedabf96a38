from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from app.schemas.common import Name, NoNul, RequestModel, ResponseModel, Storable, Timestamps

TeamName = Name
Headquarters = Annotated[str, StringConstraints(min_length=1, max_length=200), Storable, NoNul]


class TeamCreate(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Avengers", "headquarters": "Stark Tower"}]}
    )

    name: TeamName = Field(examples=["Avengers"])
    headquarters: Headquarters = Field(examples=["Stark Tower"])


class TeamUpdate(RequestModel):
    name: TeamName = None  # type: ignore[assignment]
    headquarters: Headquarters = None  # type: ignore[assignment]


class TeamBrief(ResponseModel):
    id: int
    name: str
    headquarters: str


class TeamRead(TeamBrief, Timestamps):
    pass


class TeamMember(ResponseModel):
    id: int
    name: str
    age: int | None


class TeamDetail(TeamRead):
    heroes: list[TeamMember]
