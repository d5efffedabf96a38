"""Legacy applications' password hashes are checked as their libraries wrote them.

The passlib hashes below were made by passlib 1.7.4 itself (`pbkdf2_sha256.hash(...)`
and so on) for PASSWORD; the Werkzeug ones are made here by Werkzeug."""

import pytest
from werkzeug.security import generate_password_hash

from app.core import security
from app.core.password_formats import UnknownHashFormat, scheme_of, verify_legacy

PASSWORD = "old secret é"

PASSLIB = {
    "pbkdf2_sha256": "$pbkdf2-sha256$29000$FoKwtnYuBUBIKeXc2zvnXA$UAR0lOvjdt1DIBkK7iaRh2wPFK7AmVsCX9OsYCHn/BA",  # noqa: E501
    "pbkdf2_sha512": "$pbkdf2-sha512$25000$9X7vPQdAqLW2VmotxRgjhA$AcuAzu..mllO2N/J7KSTTGJrOErvM7I8MdmyyXhsc41TTLhyEbqFyHkOWG1J4NNhOaq7vBZEegs4bL3cAHYAWA",  # noqa: E501
    "pbkdf2_sha1": "$pbkdf2$131000$SuldyznnvJdyjnGuFWLMOQ$v7b88AAwAFCe0LSzKvIFSJ/buVs",
    "sha256_crypt": "$5$rounds=535000$HKWtVmTMmxkT9Fsk$g2X4CSgKPTuBD6HSarlv7NB9MfraGKB3Q7cfit4vJ//",
    "sha256_crypt, default rounds": "$5$LrzyhvtKb1r1qMEl$VI0frGpuiF6.QnNd2fj5LyD1H2/KjcnU56JYj6UvFU2",  # noqa: E501
    "sha512_crypt": "$6$rounds=656000$vg3drArI9jBojzp/$03m7B2R9gwmwcBhyONMAkZkkO7f1gaq772rvnwAXNz0AB2u775iBVjvyQsg3mD9PzcLhaybQligiy81E1z0Dd/",  # noqa: E501
    "bcrypt, as import-legacy stores it": "bcrypt-raw$$2b$12$l8N.GKOH1DvlHmDMn6SyoesSqDPsJ2kSBbEXDi46SbHK3KdWEeFh.",  # noqa: E501
}

WERKZEUG_METHODS = ["scrypt", "pbkdf2", "pbkdf2:sha256:1000", "pbkdf2:sha512:1000"]


@pytest.mark.parametrize("hashed", PASSLIB.values(), ids=PASSLIB.keys())
def test_passlib_hashes_match_their_password_only(hashed):
    assert verify_legacy(PASSWORD, hashed)
    assert not verify_legacy(PASSWORD + "x", hashed)
    assert not security.verify_password("old secret e", hashed)


@pytest.mark.parametrize("method", WERKZEUG_METHODS)
def test_werkzeug_hashes_match_their_password_only(method):
    hashed = generate_password_hash(PASSWORD, method)

    assert security.verify_password(PASSWORD, hashed)
    assert not security.verify_password(PASSWORD.upper(), hashed)
    assert not security.is_own_hash(hashed)


def test_a_werkzeug_pbkdf2_hash_no_longer_fits_100_characters():
    # The reason for migration 0003: Werkzeug 3's default pbkdf2 is 102 characters.
    assert len(generate_password_hash(PASSWORD, "pbkdf2")) > 100
    assert len(generate_password_hash(PASSWORD, "scrypt")) <= 255


@pytest.mark.parametrize(
    "hashed",
    [
        "",
        "md5$salt$abc",
        "sha256$salt$0123",  # Werkzeug < 1.0's salted HMAC: not supported
        "$2b$12$truncated",  # "Invalid salt" from bcrypt: was a 500 at login
        "pbkdf2:sha256:notanumber$salt$00",
        "pbkdf2:sha256:999999999$salt$00",  # costlier than a login may be
        "scrypt:1048576:64:64$salt$00",
        "$pbkdf2-sha256$29000$not*base64$x",
        "$5$rounds=99999999$salt$x",
    ],
)
def test_a_hash_in_no_usable_format_is_refused_as_such(hashed):
    with pytest.raises(UnknownHashFormat):
        security.verify_password(PASSWORD, hashed)


def test_scheme_names_say_the_format_never_the_hash():
    assert scheme_of(generate_password_hash("x", "scrypt")) == "werkzeug-scrypt"
    assert scheme_of(PASSLIB["sha512_crypt"]) == "sha512-crypt"
    assert scheme_of("whatever$secret") == "unknown"
