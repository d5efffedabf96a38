"""Users: registration, changes and removal, with uniqueness enforced by the database."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.casefold import caseless_key
from app.core.security import hash_password
from app.models import User
from app.schemas.user import UserCreate, UserUpdate
from app.services.commit import commit, delete_row
from app.services.errors import Conflict, PermissionDenied
from app.services.lookup import get_by_id
from app.services.paging import Page, PageRequest, fetch_page

EMAIL_TAKEN = "Email already registered"
USERNAME_TAKEN = "Username already taken"


def _taken_value(
    db: Session, *, email: str | None, username: str | None, exclude_id: int | None = None
) -> str | None:
    """Which unique value another user already holds, as the conflict message."""
    others = select(User.id)
    if exclude_id is not None:
        others = others.where(User.id != exclude_id)
    if email is not None and db.scalar(others.where(User.email_key == caseless_key(email))):
        return EMAIL_TAKEN
    if username is not None:
        same_name = others.where(func.lower(User.username) == username.lower())
        if db.scalar(same_name) is not None:
            return USERNAME_TAKEN
    return None


def _commit(db: Session) -> None:
    """Commit; a unique value taken meanwhile by a racing request is Conflict, a user
    deleted meanwhile is NotFound."""
    email_taken, username_taken = Conflict(EMAIL_TAKEN), Conflict(USERNAME_TAKEN)
    violations = {
        "uq_users_email_key": email_taken,
        "uq_users_email": email_taken,
        "uq_users_username_lower": username_taken,
    }
    commit(db, violations, row=User)


def get_user(db: Session, *, user_id: int) -> User:
    """The user with this id, or NotFound."""
    return get_by_id(db, User, user_id)


def get_user_by_login(db: Session, *, login: str) -> User | None:
    """The user whose username or email matches `login`, in any letter case."""
    by_email = User.email_key == caseless_key(login)
    stmt = select(User).where(by_email | (func.lower(User.username) == login.lower()))
    return db.scalars(stmt).first()


def list_users(db: Session, *, page: PageRequest, is_active: bool | None = None) -> Page[User]:
    """Users ordered by id, optionally only active or inactive ones."""
    stmt = select(User)
    if is_active is not None:
        stmt = stmt.where(User.is_active == is_active)
    return fetch_page(db, stmt, User.id, page)


def create_user(
    db: Session, *, user_in: UserCreate, bcrypt_rounds: int, is_superuser: bool = False
) -> User:
    """Register a user; Conflict if the email or username is taken."""
    # Hashed before the first query begins the transaction: on SQLite a writing
    # transaction holds the database's one write lock for as long as it lasts.
    hashed_password = hash_password(user_in.password, bcrypt_rounds)
    taken = _taken_value(db, email=user_in.email, username=user_in.username)
    if taken:
        raise Conflict(taken)
    user = User(
        username=user_in.username,
        email=user_in.email,
        full_name=user_in.full_name,
        hashed_password=hashed_password,
        is_superuser=is_superuser,
    )
    db.add(user)
    _commit(db)
    return user


def _authorize_self_or_superuser(actor: User, user: User) -> None:
    if actor.id != user.id and not actor.is_superuser:
        raise PermissionDenied("Not enough permissions")


def update_user(
    db: Session, *, actor: User, user: User, user_in: UserUpdate, bcrypt_rounds: int
) -> User:
    """Apply the fields sent, if the actor is that user or a superuser; only superusers
    may change activity or superuser status."""
    _authorize_self_or_superuser(actor, user)
    changes = user_in.model_dump(exclude_unset=True)
    if not actor.is_superuser and changes.keys() & {"is_active", "is_superuser"}:
        raise PermissionDenied("Only superusers may change is_active or is_superuser")
    if "password" in changes:
        # End the transaction that read the caller and the user (objects stay loaded)
        # before hashing, so no lock or connection is held during bcrypt; the write
        # below begins a new one.
        db.commit()
        changes["hashed_password"] = hash_password(changes.pop("password"), bcrypt_rounds)
    email, username = changes.get("email"), changes.get("username")
    taken = _taken_value(db, email=email, username=username, exclude_id=user.id)
    if taken:
        raise Conflict(taken)
    for field, value in changes.items():
        setattr(user, field, value)
    _commit(db)
    return user


def delete_user(db: Session, *, actor: User, user: User) -> None:
    """Remove the user, if the actor is that user or a superuser; the database removes
    their items with them. NotFound if a concurrent request removed them first."""
    _authorize_self_or_superuser(actor, user)
    delete_row(db, user)
