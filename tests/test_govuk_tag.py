"""The portal's govukTag writes GOV.UK Frontend's own tag markup, whitespace included, and escapes the text."""

import pytest
from markupsafe import Markup

CASES = [
    {"text": "Active", "classes": "govuk-tag--green"},
    {"text": "Missing <2> & more", "classes": "govuk-tag--red"},
    {"text": Markup("<em>Kept</em>"), "classes": "govuk-tag--blue"},
    {"text": "No classes"},
    {"text": "Empty classes", "classes": ""},
    {"text": None, "classes": "govuk-tag--grey"},
    {"text": 3, "classes": 'x" onclick="y'},
    {"classes": "govuk-tag--grey"},
    {"html": "<b>bold</b>\nsecond line", "classes": "govuk-tag--grey"},
    {"text": "With attributes", "attributes": {"id": "t"}},
]


@pytest.mark.parametrize("params", CASES)
def test_the_markup_is_the_macros_own(app, params):
    with app.test_request_context():
        macro = app.jinja_env.from_string(
            '{% from "govuk_frontend_jinja/components/tag/macro.html" import govukTag %}{{ govukTag(p) }}')
        ours = app.jinja_env.from_string("{{ govukTag(p) }}")
        assert ours.render(p=params) == macro.render(p=params)


def test_the_global_is_the_portals_own(app):
    """Pages get the portal's tag, not the macro: the test above compares the two, not the macro with itself."""
    assert app.jinja_env.globals["govukTag"].__module__ == "portal.templating"
