from pydantic import ConfigDict, Field

from app.schemas.common import BigInt, Id, Name, RequestModel, Timestamps
from app.schemas.team import TeamBrief

HeroName = Name


class HeroCreate(RequestModel):
    # The first example works on an empty database; the second joins team 1.
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Spider-Boy", "secret_name": "Pedro Parqueador", "age": 17},
                {"name": "Rusty-Man", "secret_name": "Tommy Sharp", "age": 48, "team_id": 1},
            ]
        }
    )

    name: HeroName = Field(examples=["Spider-Boy"])
    secret_name: HeroName = Field(examples=["Pedro Parqueador"])
    age: BigInt | None = Field(default=None, examples=[17])
    team_id: Id | None = Field(default=None, examples=[1])


class HeroUpdate(RequestModel):
    name: HeroName = None  # type: ignore[assignment]
    secret_name: HeroName = None  # type: ignore[assignment]
    age: BigInt | None = None
    team_id: Id | None = None


class HeroRead(Timestamps):
    id: int
    name: str
    age: int | None
    team_id: int | None
    team: TeamBrief | None
