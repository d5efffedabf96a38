"""Settings for the app under test, and the app as a table of routes."""

from functools import lru_cache

from fastapi import FastAPI
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from app.core.config import Settings
from app.main import create_app


class TestSettings(Settings):
    """Settings from the arguments alone: the shell's variables and `.env` are the
    developer's, not the tests'."""

    __test__ = False  # not a test class, whatever pytest makes of the name

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@lru_cache
def service_app() -> FastAPI:
    """The service's app with default settings, never started: for reading its routes and
    OpenAPI document where a test is collected (to parametrize over every operation)."""
    return create_app(TestSettings())
