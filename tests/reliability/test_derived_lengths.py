"""A value normalisation makes longer than its column is a 422, not a 500 (issue 17, 3).

U+FDFA is one character that NFKC_Casefold spells as 18: an email of 20 of them passes
every check on what the client sent, but its comparison key (`users.email_key`,
VARCHAR(320)) would have 372 characters. PostgreSQL refused the INSERT (a 500);
SQLite stored it. Now every bounded string column is checked before the row is
written (app/db/lengths.py), on every database.
"""

import pytest
from sqlalchemy import func, select

from app.models import User
from app.services.errors import ValueTooLong
from app.testing.factories import TeamFactory

LIGATURE = "\ufdfa"  # ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM
LONG_ONCE_FOLDED = LIGATURE * 20 + "@example.com"
REFUSED = {"detail": "email is too long once normalised for comparison: 372 characters, "
                     "at most 320 are stored"}


def test_registering_an_email_whose_key_outgrows_its_column_is_422(client, db):
    response = client.post("/api/v1/users", json={
        "username": "ligature", "email": LONG_ONCE_FOLDED, "password": "a long password",
    })

    assert response.status_code == 422
    assert response.json() == REFUSED
    assert db.scalar(select(func.count()).select_from(User)) == 0


def test_changing_to_such_an_email_is_422_and_changes_nothing(client, db, user, user_headers):
    email = user.email

    response = client.patch(f"/api/v1/users/{user.id}", json={"email": LONG_ONCE_FOLDED},
                            headers=user_headers)

    assert response.status_code == 422
    assert response.json() == REFUSED
    db.expire_all()
    assert db.get(User, user.id).email == email


def test_every_bounded_string_column_is_checked_before_it_is_written(db):
    # Not only email_key: any value a service or model sets past its column.
    team = TeamFactory()
    team.headquarters = "x" * 201

    with pytest.raises(ValueTooLong) as refused:
        db.flush()

    assert refused.value.detail == "headquarters is too long: 201 characters, at most 200 " \
        "are stored"
    db.rollback()

