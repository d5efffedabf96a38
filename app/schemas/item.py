from pydantic import ConfigDict, Field

from app.schemas.common import RequestModel, Timestamps, bounded_str

Title = bounded_str(1, 200)
Description = bounded_str(0, 2000)


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
