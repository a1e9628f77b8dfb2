"""The portal's Jinja environment: the GOV.UK macros beside our templates, and cheap macro imports."""

from collections.abc import Callable, MutableMapping
from functools import lru_cache
from typing import Any

from flask import Flask, has_request_context, request
from flask.templating import Environment
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader
from markupsafe import Markup, escape


class PortalEnvironment(Environment):
    """Flask's environment with plain-dict template globals.

    Every page imports a dozen GOV.UK macro files; Jinja checks each import against the template's globals,
    which by default are a ChainMap that makes that check cost more than the rest of a small page's
    rendering. Our globals are all registered while the app is built, before any template loads, so a copy
    taken when a template loads is the same map.
    """

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """The environment's globals overlaid with the template's own, as one dict."""
        return {**self.globals, **(d or {})}


def configure(app: Flask) -> None:
    """Find the GOV.UK macros and widgets beside our own templates."""
    assert app.jinja_loader is not None  # create_app gives the app its template folder
    app.jinja_loader = ChoiceLoader(
        [
            app.jinja_loader,
            PrefixLoader(
                {
                    "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                    "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
                }
            ),
        ]
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    from govuk_frontend_wtf.main import WTFormsHelpers

    WTFormsHelpers(app)
    app.jinja_env.globals["service_name"] = app.config["ORGANISATION_NAME"]
    app.jinja_env.globals["url_for"] = remembered_links(app.url_for)
    app.jinja_env.globals["data_table"] = data_table


# The GOV.UK macros any page may call without importing them: (name, component folder).
PAGE_MACROS = (
    ("govukSkipLink", "skip-link"),
    ("govukNotificationBanner", "notification-banner"),
    ("govukErrorSummary", "error-summary"),
    ("govukBackLink", "back-link"),
    ("govukButton", "button"),
    ("govukSummaryList", "summary-list"),
    ("govukTag", "tag"),
    ("govukPagination", "pagination"),
    ("govukInsetText", "inset-text"),
    ("govukWarningText", "warning-text"),
    ("govukPanel", "panel"),
    ("govukDetails", "details"),
)


def govuk_tag(macro: Callable[[Any], Markup]) -> Callable[[Any], Markup]:
    """govukTag for templates: GOV.UK Frontend's own markup, written here for a tag of text and classes (every tag
    the portal shows), and the macro for any other parameters.

    A list of people shows a tag on every row, and the macro (with its attributes macro) cost more than the rest of
    the row; the markup is the same, whitespace included.
    """

    def tag(params: Any) -> Markup:
        if not params.keys() <= {"text", "classes"}:
            return macro(params)
        classes = f" {escape(params['classes'])}" if params.get("classes") else ""
        text = escape(params["text"]) if "text" in params else ""  # None is shown as "None", as the macro does
        return Markup(f'<strong class="govuk-tag{classes}">\n  {text}\n</strong>\n')  # noqa: S704 - escaped above

    return tag


def share_page_macros(app: Flask) -> None:
    """Make the GOV.UK macros of PAGE_MACROS template globals, each macro file loaded once per process (and
    govukTag the portal's own, see govuk_tag).

    templates/base.html imported all twelve on every render, which cost a tenth of a small page's time. Call
    this last in create_app: a template keeps a copy of the globals there are when it loads, and an import of a
    macro file that lacks some of the importer's globals builds the file's module afresh each time; so the
    files loaded here are dropped from the cache, to be loaded again, with every global, when a page imports one.
    """
    env = app.jinja_env
    for name, component in PAGE_MACROS:
        macro = getattr(env.get_template(f"govuk_frontend_jinja/components/{component}/macro.html").module, name)
        env.globals[name] = govuk_tag(macro) if name == "govukTag" else macro
    if env.cache is not None:
        env.cache.clear()


def _cell(tag: str, cell: Any, classes: str, scope: str = "") -> str:
    """One <th> or <td>: its class, span and content (html as given, text escaped)."""
    if cell.get("classes"):
        classes += f" {escape(cell['classes'])}"
    spans = "".join(f' {name}="{escape(cell[name])}"' for name in ("colspan", "rowspan") if cell.get(name))
    html = cell.get("html")
    content = str(html) if html else escape("" if cell.get("text") is None else cell.get("text"))
    return f'<{tag}{scope} class="{classes}"{spans}>{content}</{tag}>'


def data_table(params: Any) -> Markup:
    """GOV.UK Frontend's table markup, from govukTable's parameters (caption, captionClasses, head, rows,
    firstCellIsHeader, classes; a cell's text or html, format, classes, colspan and rowspan; no `attributes`).

    Written here rather than by the govukTable macro because that macro calls an attributes macro for each
    cell, and Jinja looks each of a cell's keys up several ways: on the Chair's meeting record, with a table of
    answers side by side for each portfolio, it was most of the page's time. The markup is the same.
    """
    parts = [f'<table class="govuk-table{" " + escape(params["classes"]) if params.get("classes") else ""}">']
    if params.get("caption"):
        extra = f" {escape(params['captionClasses'])}" if params.get("captionClasses") else ""
        parts.append(f'<caption class="govuk-table__caption{extra}">{escape(params["caption"])}</caption>')
    if params.get("head"):
        parts.append('<thead class="govuk-table__head"><tr class="govuk-table__row">')
        for item in params["head"]:
            numeric = f" govuk-table__header--{escape(item['format'])}" if item.get("format") else ""
            parts.append(_cell("th", item, "govuk-table__header" + numeric, ' scope="col"'))
        parts.append("</tr></thead>")
    parts.append('<tbody class="govuk-table__body">')
    first_is_header = bool(params.get("firstCellIsHeader"))
    for row in params.get("rows") or ():
        if not row:
            continue
        parts.append('<tr class="govuk-table__row">')
        for index, cell in enumerate(row):
            if index == 0 and first_is_header:
                parts.append(_cell("th", cell, "govuk-table__header", ' scope="row"'))
            else:
                numeric = f" govuk-table__cell--{escape(cell['format'])}" if cell.get("format") else ""
                parts.append(_cell("td", cell, "govuk-table__cell" + numeric))
        parts.append("</tr>")
    parts.append("</tbody></table>")
    # Every text above went through escape(); an `html` cell is markup the template built, as with govukTable.
    return Markup("\n".join(parts))  # noqa: S704


def remembered_links(build: Callable[..., str]) -> Callable[..., str]:
    """Flask's url_for for templates, remembering each path it has built.

    A page builds some thirty links (menu, footer, assets) and Werkzeug's builder is one of the costlier
    steps of rendering. A path depends only on the endpoint, its arguments and where the app is mounted, so
    it can be reused; external URLs, anchors and blueprint-relative names are built afresh every time.
    """

    @lru_cache(maxsize=4096)
    def remembered(_mounted_at: str, endpoint: str, arguments: tuple[tuple[str, type, Any], ...]) -> str:
        return build(endpoint, **{name: value for name, _, value in arguments})

    def url_for(endpoint: str, **values: Any) -> str:
        if endpoint.startswith(".") or not has_request_context():
            return build(endpoint, **values)
        if not values:  # most links: the menu, the footer
            arguments: tuple[tuple[str, type, Any], ...] = ()
        elif any(name.startswith("_") for name in values):
            return build(endpoint, **values)
        else:
            arguments = tuple(sorted((name, type(value), value) for name, value in values.items()))
        try:
            return remembered(request.script_root, endpoint, arguments)
        except TypeError:  # an argument that cannot be a cache key (a list, say)
            return build(endpoint, **values)

    return url_for
