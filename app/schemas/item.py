from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from app.schemas.common import NoNul, RequestModel, Storable, Timestamps

Title = Annotated[str, StringConstraints(min_length=1, max_length=200), Storable, NoNul]
Description = Annotated[str, StringConstraints(min_length=0, max_length=2000), Storable, NoNul]


class ItemCreate(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "Shield", "description": "Vibranium, round"}]}
    )

    title: Title = Field(examples=["Shield"])
    description: Description | None = Field(default=None, examples=["Vibranium, round"])


class ItemUpdate(RequestModel):
    title: Title = None  # type: ignore[assignment]
    description: Description | None = None


class ItemRead(Timestamps):
    id: int
    title: str
    description: str | None
    owner_id: int
