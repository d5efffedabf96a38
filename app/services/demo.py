"""Demo data in bulk: users, teams, heroes and items, inserted in batches.

Rows go in with ORM bulk INSERTs (one executemany per batch) and each batch
is committed on its own, so memory stays flat and a live service is blocked
for one batch at a time at most. Names carry a tag new to every run, so
seeding twice adds rows instead of colliding with unique names.
"""

import random
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from app.core.casefold import caseless_key
from app.models import Hero, Item, Team, User

# (table, rows written so far, rows to write)
Progress = Callable[[str, int, int], None]

_ADJECTIVES = (
    "Crimson", "Silent", "Iron", "Golden", "Shadow", "Thunder", "Cosmic", "Scarlet",
    "Atomic", "Emerald", "Frost", "Solar", "Night", "Storm", "Quantum", "Steel",
)
_NOUNS = (
    "Falcon", "Panther", "Spider", "Comet", "Wolf", "Phoenix", "Hornet", "Titan",
    "Raven", "Viper", "Lynx", "Kraken", "Wasp", "Sentinel", "Fox", "Owl",
)
_FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken",
    "Frances", "John", "Radia", "Edsger", "Hedy", "Donald", "Katherine", "Guido",
)
_LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Allen", "Backus", "Perlman", "Dijkstra", "Lamarr", "Knuth", "Johnson", "Rossum",
)
_CITIES = ("Metro City", "Gotham", "Star City", "Coast City", "Central City", "Keystone")
_THINGS = ("Shield", "Cape", "Gadget", "Map", "Mask", "Compass", "Grapple", "Lantern")


@dataclass(frozen=True)
class SeedCounts:
    users: int = 0
    teams: int = 0
    heroes: int = 0
    items: int = 0


def _batches(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(start + size, total))


class _Seeder:
    def __init__(
        self, engine: Engine, batch_size: int, progress: Progress, rng: random.Random
    ) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.progress = progress
        self.rng = rng
        self.tag = secrets.token_hex(3)
        self.now = datetime.now(UTC)

    def _insert(
        self,
        label: str,
        model: type[Any],
        total: int,
        make_row: Callable[[int], dict[str, Any]],
        keep_ids: bool = False,
    ) -> list[int]:
        """Insert `total` rows made by `make_row(n)`, a batch per transaction."""
        ids: list[int] = []
        done = 0
        for batch in _batches(total, self.batch_size):
            rows = [
                {**make_row(n), "created_at": self.now, "updated_at": self.now} for n in batch
            ]
            with Session(self.engine) as session:
                if keep_ids:
                    ids.extend(session.scalars(insert(model).returning(model.id), rows))
                else:
                    session.execute(insert(model), rows)
                session.commit()
            done += len(batch)
            self.progress(label, done, total)
        return ids

    def users(self, total: int, hashed_password: str) -> list[int]:
        def row(n: int) -> dict[str, Any]:
            username = f"demo_{self.tag}_{n + 1}"
            email = f"{username}@example.com"
            return {
                "username": username,
                "email": email,
                "email_key": caseless_key(email),  # bulk INSERTs bypass the model's validator
                "full_name": f"{self.rng.choice(_FIRST_NAMES)} {self.rng.choice(_LAST_NAMES)}",
                "hashed_password": hashed_password,
                "is_active": True,
                "is_superuser": False,
            }

        return self._insert("users", User, total, row, keep_ids=True)

    def teams(self, total: int) -> list[int]:
        def row(n: int) -> dict[str, Any]:
            name = f"{self.rng.choice(_ADJECTIVES)} {self.rng.choice(_NOUNS)}s {self.tag}-{n + 1}"
            return {"name": name, "headquarters": self.rng.choice(_CITIES)}

        return self._insert("teams", Team, total, row, keep_ids=True)

    def heroes(self, total: int, team_ids: Sequence[int]) -> None:
        rng = self.rng

        def row(n: int) -> dict[str, Any]:
            return {
                "name": f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
                "secret_name": f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
                # Some heroes have no age and some no team, as in real data.
                "age": rng.randint(16, 90) if rng.random() > 0.05 else None,
                "team_id": rng.choice(team_ids) if team_ids and rng.random() > 0.1 else None,
            }

        self._insert("heroes", Hero, total, row)

    def items(self, total: int, owner_ids: Sequence[int]) -> None:
        rng = self.rng

        def row(n: int) -> dict[str, Any]:
            thing = rng.choice(_THINGS)
            return {
                "title": f"{rng.choice(_ADJECTIVES)} {thing}",
                "description": f"A {thing.lower()} from {rng.choice(_CITIES)}"
                if rng.random() > 0.2
                else None,
                "owner_id": rng.choice(owner_ids),
            }

        self._insert("items", Item, total, row)


def seed(
    *,
    engine: Engine,
    counts: SeedCounts,
    hashed_password: str,
    batch_size: int = 5000,
    progress: Progress = lambda table, done, total: None,
    rng: random.Random | None = None,
) -> None:
    """Insert `counts` demo rows; every user gets `hashed_password`, items go to those users."""
    if counts.items and not counts.users:
        raise ValueError("items need owners: seed at least one user")
    seeder = _Seeder(engine, batch_size, progress, rng or random.Random())
    user_ids = seeder.users(counts.users, hashed_password)
    team_ids = seeder.teams(counts.teams)
    seeder.heroes(counts.heroes, team_ids)
    seeder.items(counts.items, user_ids)
