from conftest import sign_in


def test_sign_in_reaches_dashboard(app, client, make_user):
    person = make_user()
    sign_in(app, client, person)
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert person.name in page.get_data(as_text=True)


def test_remembered_links_match_flask_and_follow_the_mount_point(app):
    from flask import render_template_string, url_for

    page = "{{ url_for('static', filename='dist/portal.css') }} {{ url_for('meetings.meeting', meeting_id=7) }}"
    for mounted_at in ("", "/portal", ""):
        with app.test_request_context("/", base_url=f"http://localhost{mounted_at}/"):
            expected = f"{url_for('static', filename='dist/portal.css')} {url_for('meetings.meeting', meeting_id=7)}"
            assert render_template_string(page) == expected
            assert expected.startswith(f"{mounted_at}/static/")
            assert render_template_string("{{ url_for('meetings.meeting', meeting_id=8) }}").endswith("/8")
            external = render_template_string("{{ url_for('pages.dashboard', _external=True) }}")
            assert external == url_for("pages.dashboard", _external=True)
