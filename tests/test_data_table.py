"""The portal's table helper writes GOV.UK Frontend's own table markup, escaping text and keeping html."""

import re

from portal.templating import data_table

PARAMS = {
    "caption": "Documents <read>", "captionClasses": "govuk-table__caption--m", "firstCellIsHeader": True,
    "classes": "govuk-table--small-text-until-tablet",
    "head": [{"text": "Document"}, {"text": "Pages & more", "format": "numeric"}, {"html": "<em>Status</em>"}],
    "rows": [
        [{"text": "Plan <b>1</b>"}, {"text": 12, "format": "numeric"},
         {"html": '<strong class="govuk-tag">Read</strong>'}],
        [],
        [{"text": "Section", "classes": "govuk-!-font-weight-bold", "colspan": 3}],
        [{"text": "Report"}, {"text": 0, "format": "numeric"}, {"text": None, "rowspan": 2, "classes": "x"}],
    ],
}


def _squeezed(html: str) -> str:
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).replace(" >", ">").strip()


def test_the_markup_is_govuk_tables_own(app):
    with app.app_context():
        macro = app.jinja_env.from_string(
            '{% from "govuk_frontend_jinja/components/table/macro.html" import govukTable %}{{ govukTable(p) }}')
        theirs = macro.render(p=PARAMS)
    ours = str(data_table(PARAMS))
    # govukTable prints None as "None"; the helper prints nothing for a missing text.
    assert _squeezed(ours) == _squeezed(theirs).replace(">None<", "><")


def test_text_is_escaped_and_html_kept():
    html = str(data_table(PARAMS))
    assert "Plan &lt;b&gt;1&lt;/b&gt;" in html and "Documents &lt;read&gt;" in html and "Pages &amp; more" in html
    assert '<strong class="govuk-tag">Read</strong>' in html and "<em>Status</em>" in html
    assert html.count('<tr class="govuk-table__row">') == 4  # the empty row is left out, as govukTable does
    assert '<th scope="row" class="govuk-table__header govuk-!-font-weight-bold" colspan="3">Section</th>' in html
