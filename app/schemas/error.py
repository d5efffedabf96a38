from pydantic import BaseModel, ConfigDict


class ErrorMessage(BaseModel):
    """The body of every error the service answers itself (validation errors aside)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "Hero not found"}]})

    detail: str
