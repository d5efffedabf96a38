"""How an e-mail address or a username is written wherever one enters the service.

Registration, login, the password reset request and PATCH all pass what they were
given through `normalise_identifier`, so that every form registration accepted,
login accepts too: `Ada Lovelace <Ada@Example.com>`, ` ada@example.com `,
`ada@xn--bcher-kva.de` and `ada@BÜCHER.de` are all the address `ada@bücher.de`.
Comparing ignores case on top of that (app/core/casefold.py).
"""

from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError


def normalise_identifier(text: str) -> str:
    """An e-mail address in the form it is stored (what the validator makes of it, in lower
    case), or a username as written, without the spaces around it.

    Text with an `@` that is not an address is left as it is (stripped): a login with it
    finds nobody, and a schema has refused it already."""
    text = text.strip()
    if "@" not in text:
        return text
    try:
        # pydantic's own: what EmailStr accepts (a display name, IDNA, NFC), it reads alike.
        _name, address = validate_email(text)
    except PydanticCustomError:
        return text
    return address.lower()
