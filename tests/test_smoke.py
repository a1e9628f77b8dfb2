from conftest import sign_in


def test_sign_in_reaches_dashboard(app, client, make_user):
    person = make_user()
    sign_in(app, client, person)
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert person.name in page.get_data(as_text=True)
