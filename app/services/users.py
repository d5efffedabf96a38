"""Users: registration, changes and removal, with uniqueness enforced by the database."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.casefold import caseless_key
from app.core.identifiers import normalise_identifier
from app.core.security import hash_password
from app.models import User
from app.schemas.user import UserCreate, UserUpdate
from app.services.commit import commit, delete_row
from app.services.errors import Conflict, NotAuthenticated, PermissionDenied
from app.services.lookup import for_update, get_by_id
from app.services.paging import Page, PageRequest, fetch_page
from app.services.refresh_tokens import revoke_all_of_user
from app.services.versions import Expected, hold_to

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


def _commit(db: Session, user: User | None = None, expected: Expected | None = None) -> None:
    """Commit; a unique value taken meanwhile by a racing request is Conflict; `user`,
    the user changed: NotFound if deleted meanwhile, PreconditionFailed if If-Match
    named another version."""
    email_taken, username_taken = Conflict(EMAIL_TAKEN), Conflict(USERNAME_TAKEN)
    violations = {
        "uq_users_email_key": email_taken,
        "uq_users_email": email_taken,
        "uq_users_username_lower": username_taken,
    }
    commit(db, violations, row=user, expected=expected)


def get_user(db: Session, actor: User, *, user_id: int) -> User:
    """The user with this id, or NotFound; any signed-in user may read any user."""
    return get_by_id(db, User, user_id)


def current_user(db: Session, actor: User) -> User:
    """The signed-in user themself."""
    return actor


def require_superuser(db: Session, actor: User) -> User:
    """The actor, if they are a superuser; PermissionDenied otherwise."""
    if not actor.is_superuser:
        raise PermissionDenied("Superuser privileges required")
    return actor


def get_user_by_login(db: Session, *, login: str) -> User | None:
    """The user whose username or email matches `login`, in any letter case and in any
    form the registration's validator accepts."""
    login = normalise_identifier(login)
    by_email = User.email_key == caseless_key(login)
    stmt = select(User).where(by_email | (func.lower(User.username) == login.lower()))
    return db.scalars(stmt).first()


def list_users(
    db: Session, actor: User, *, page: PageRequest, is_active: bool | None = None
) -> Page[User]:
    """Users ordered by id, optionally only active or inactive ones; for any signed-in user."""
    stmt = select(User)
    if is_active is not None:
        stmt = stmt.where(User.is_active == is_active)
    return fetch_page(db, stmt, User.id, page)


def create_user(
    db: Session, *, user_in: UserCreate, bcrypt_rounds: int, is_superuser: bool = False
) -> User:
    """A new user; Conflict if the email or username is taken. For operators (the command
    line, start-up); the API registers through `register_user`."""
    # Hashed before the first query begins the transaction, so that no pooled
    # connection waits on bcrypt.
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


def register_user(
    db: Session,
    registrar: User | None,
    *,
    open_registration: bool,
    user_in: UserCreate,
    bcrypt_rounds: int,
) -> User:
    """Register a user: anyone may while registration is open (OPEN_REGISTRATION), only a
    superuser otherwise. Conflict if the email or username is taken."""
    if not open_registration:
        if registrar is None:
            raise NotAuthenticated("Not authenticated")
        if not registrar.is_superuser:
            raise PermissionDenied("Superuser privileges required")
    return create_user(db, user_in=user_in, bcrypt_rounds=bcrypt_rounds)


def _authorize_self_or_superuser(actor: User, user_id: int) -> None:
    if actor.id != user_id and not actor.is_superuser:
        raise PermissionDenied("Not enough permissions")


def update_user(
    db: Session,
    actor: User,
    *,
    user_id: int,
    user_in: UserUpdate,
    bcrypt_rounds: int,
    expected: Expected | None = None,
) -> User:
    """Apply the fields sent, if the actor is that user or a superuser; only superusers
    may change activity or superuser status."""
    _authorize_self_or_superuser(actor, user_id)
    changes = user_in.model_dump(exclude_unset=True)
    if not actor.is_superuser and changes.keys() & {"is_active", "is_superuser"}:
        raise PermissionDenied("Only superusers may change is_active or is_superuser")
    if "password" in changes:
        # Before the first query begins the transaction: no pooled connection waits on
        # bcrypt, and nobody may make us hash who may not change this user.
        changes["hashed_password"] = hash_password(changes.pop("password"), bcrypt_rounds)
    user = get_by_id(db, User, user_id, lock=for_update(expected))
    email, username = changes.get("email"), changes.get("username")
    taken = _taken_value(db, email=email, username=username, exclude_id=user.id)
    if taken:
        raise Conflict(taken)
    for field, value in changes.items():
        setattr(user, field, value)
    if "hashed_password" in changes:
        # Access tokens stop with the old hash (their fingerprint); refresh tokens here.
        revoke_all_of_user(db, user_id=user.id)
    hold_to(db, user, expected)
    _commit(db, user, expected)
    return user


def delete_user(
    db: Session, actor: User, *, user_id: int, expected: Expected | None = None
) -> None:
    """Remove the user, if the actor is that user or a superuser; the database removes
    their items with them. NotFound if a concurrent request removed them first,
    PreconditionFailed if they changed from what `expected` names."""
    _authorize_self_or_superuser(actor, user_id)
    delete_row(db, get_user(db, actor, user_id=user_id), expected)
