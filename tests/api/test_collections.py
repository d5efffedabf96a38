import re

import pytest

from app.testing.factories import HeroFactory, TeamFactory

TEAMS = "/api/v1/teams"
HEROES = "/api/v1/heroes"
NEXT_LINK = re.compile(r'<([^>]*)>[^,]*;\s*rel="?next"?')


def next_url(response):
    """The target of the response's rel="next" link, or None."""
    header = response.headers.get("Link")
    if header is None:
        return None
    match = NEXT_LINK.search(header)
    assert match, f"Link header without rel=next: {header!r}"
    return match.group(1)


def walk(client, url, headers):
    """Every page reached from `url` by following rel="next"; fails on a loop."""
    pages = []
    while url is not None:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response)
        assert len(pages) <= 50, "rel=next never ends"
        url = next_url(response)
    return pages


def ids_of(response):
    return [row["id"] for row in response.json()]


def test_list_is_ordered_by_id_not_by_name(client, user_headers):
    created = [TeamFactory(name=name).id for name in ("Zeta", "Alpha", "Mu")]

    response = client.get(TEAMS, headers=user_headers)

    assert response.status_code == 200
    assert ids_of(response) == sorted(created)


def test_skip_and_limit_slice_the_ordered_list(client, user_headers):
    ids = sorted(TeamFactory().id for _ in range(5))

    response = client.get(TEAMS, params={"skip": 1, "limit": 2}, headers=user_headers)

    assert response.status_code == 200
    assert ids_of(response) == ids[1:3]


def test_default_limit_is_100(client, user_headers):
    ids = sorted(TeamFactory().id for _ in range(101))

    response = client.get(TEAMS, headers=user_headers)

    assert ids_of(response) == ids[:100]
    assert next_url(response) is not None


def test_total_count_ignores_paging(client, user_headers):
    for _ in range(5):
        TeamFactory()

    response = client.get(TEAMS, params={"skip": 3, "limit": 1}, headers=user_headers)

    assert len(response.json()) == 1
    assert response.headers["X-Total-Count"] == "5"


def test_total_count_counts_only_filtered_rows(client, user_headers):
    TeamFactory(name="Avengers")
    TeamFactory(name="X-Men")

    response = client.get(TEAMS, params={"name": "Avengers"}, headers=user_headers)

    assert [row["name"] for row in response.json()] == ["Avengers"]
    assert response.headers["X-Total-Count"] == "1"


def test_total_count_is_zero_on_empty_collection(client, user_headers):
    response = client.get(TEAMS, headers=user_headers)

    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"
    assert "Link" not in response.headers


def test_link_next_present_while_rows_remain(client, user_headers):
    for _ in range(3):
        TeamFactory()

    response = client.get(TEAMS, params={"limit": 2}, headers=user_headers)

    assert next_url(response) is not None


def test_link_absent_on_last_page(client, user_headers):
    for _ in range(3):
        TeamFactory()

    response = client.get(TEAMS, params={"skip": 2, "limit": 2}, headers=user_headers)

    assert len(response.json()) == 1
    assert "Link" not in response.headers


def test_link_absent_when_last_page_is_exactly_full(client, user_headers):
    for _ in range(4):
        TeamFactory()

    response = client.get(TEAMS, params={"skip": 2, "limit": 2}, headers=user_headers)

    assert len(response.json()) == 2
    assert "Link" not in response.headers


def test_following_links_in_skip_mode_visits_every_row_once(client, user_headers):
    ids = sorted(TeamFactory().id for _ in range(7))

    pages = walk(client, f"{TEAMS}?limit=3", user_headers)

    assert [len(page.json()) for page in pages] == [3, 3, 1]
    assert [i for page in pages for i in ids_of(page)] == ids
    assert all(page.headers["X-Total-Count"] == "7" for page in pages)


def test_following_links_in_keyset_mode_visits_every_row_once(client, user_headers):
    ids = sorted(TeamFactory().id for _ in range(7))

    pages = walk(client, f"{TEAMS}?limit=3&after_id=0", user_headers)

    assert [len(page.json()) for page in pages] == [3, 3, 1]
    assert [i for page in pages for i in ids_of(page)] == ids
    assert all("X-Total-Count" not in page.headers for page in pages)


def test_after_id_returns_rows_after_that_id(client, user_headers):
    ids = sorted(TeamFactory().id for _ in range(5))

    response = client.get(TEAMS, params={"after_id": ids[1], "limit": 2}, headers=user_headers)

    assert response.status_code == 200
    assert ids_of(response) == ids[2:4]


def test_after_id_omits_total_count(client, user_headers):
    TeamFactory()

    response = client.get(TEAMS, params={"after_id": 0}, headers=user_headers)

    assert response.status_code == 200
    assert len(response.json()) == 1
    assert "X-Total-Count" not in response.headers


def test_after_id_past_the_last_row_is_an_empty_last_page(client, user_headers):
    last = TeamFactory().id

    response = client.get(TEAMS, params={"after_id": last}, headers=user_headers)

    assert response.status_code == 200
    assert response.json() == []
    assert "Link" not in response.headers


def test_after_id_with_skip_is_rejected(client, user_headers):
    response = client.get(TEAMS, params={"after_id": 1, "skip": 1}, headers=user_headers)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "skip"]
    assert error["msg"] == "skip cannot be combined with after_id"


NOT_AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("limit", 0, "Input should be greater than or equal to 1"),
        ("limit", 101, "Input should be less than or equal to 100"),
        ("limit", -1, "Input should be greater than or equal to 1"),
        ("skip", -1, "Input should be greater than or equal to 0"),
        ("limit", "ten", NOT_AN_INTEGER),
        ("skip", "1.5", NOT_AN_INTEGER),
        ("after_id", "abc", NOT_AN_INTEGER),
        ("limit", "", NOT_AN_INTEGER),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 10 else None,
)
def test_out_of_range_or_non_integer_paging_is_rejected(
    client, user_headers, name, value, message
):
    response = client.get(TEAMS, params={name: value}, headers=user_headers)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["query", name], message)


@pytest.mark.parametrize("limit", [1, 100])
def test_limit_bounds_are_inclusive(client, user_headers, limit):
    TeamFactory.create_batch(limit + 1)

    response = client.get(TEAMS, params={"limit": limit}, headers=user_headers)

    assert response.status_code == 200
    assert len(response.json()) == limit


def test_filtered_paging_counts_and_links_only_matches(client, user_headers):
    matching = sorted(HeroFactory(name=f"Spider {n}").id for n in range(5))
    for n in range(4):
        HeroFactory(name=f"Iron {n}")

    first = client.get(HEROES, params={"name": "SPIDER", "limit": 2}, headers=user_headers)
    pages = walk(client, next_url(first), user_headers)

    assert first.headers["X-Total-Count"] == "5"
    assert all(page.headers["X-Total-Count"] == "5" for page in pages)
    assert ids_of(first) + [i for page in pages for i in ids_of(page)] == matching


def test_filtered_keyset_paging_follows_only_matches(client, user_headers):
    team = TeamFactory()
    matching = sorted(HeroFactory(team=team).id for _ in range(4))
    for _ in range(3):
        HeroFactory()

    pages = walk(client, f"{HEROES}?team_id={team.id}&after_id=0&limit=3", user_headers)

    assert [i for page in pages for i in ids_of(page)] == matching


def test_keyset_page_cost_does_not_grow_with_depth(client, user_headers, sql_statements):
    ids = sorted(TeamFactory().id for _ in range(40))

    sql_statements.clear()
    early = client.get(TEAMS, params={"after_id": ids[0], "limit": 5}, headers=user_headers)
    early_statements = list(sql_statements)
    sql_statements.clear()
    late = client.get(TEAMS, params={"after_id": ids[-7], "limit": 5}, headers=user_headers)
    late_statements = list(sql_statements)

    assert ids_of(early) == ids[1:6]
    assert ids_of(late) == ids[-6:-1]
    assert any("from teams" in statement.lower() for statement in late_statements)
    assert len(early_statements) == len(late_statements)
    assert early_statements == late_statements
    assert not any("count(" in statement.lower() for statement in late_statements)
