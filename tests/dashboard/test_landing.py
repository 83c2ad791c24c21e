"""The landing page tells a newcomer where to send events and where health is."""


def test_landing_page_lists_the_ingest_endpoint_and_health(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "/api/logs/" in page
    assert 'href="/health"' in page
    assert 'href="/auth/login"' in page and 'href="/auth/register"' in page
    assert client.get("/static/style.css").status_code == 200
