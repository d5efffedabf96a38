from tests.factories import HeroFactory, TeamFactory


def test_list_heroes_embeds_team(client, user_headers):
    team = TeamFactory(name="Avengers")
    HeroFactory(name="Thor", team=team)
    response = client.get("/api/v1/heroes", headers=user_headers)
    assert response.status_code == 200
    assert response.json()[0]["team"]["name"] == "Avengers"
    assert "secret_name" not in response.json()[0]
