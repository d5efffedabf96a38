from pydantic import BaseModel


class UserCounts(BaseModel):
    total: int
    active: int


class TeamHeroCount(BaseModel):
    team_id: int
    team_name: str
    heroes: int


class Summary(BaseModel):
    users: UserCounts
    teams: int
    heroes: int
    heroes_without_team: int
    items: int
    heroes_per_team: list[TeamHeroCount]
