"""The portal's Jinja environment: the GOV.UK macros beside our templates, and cheap macro imports."""

from collections.abc import Callable, MutableMapping
from functools import lru_cache
from typing import Any

from flask import Flask, has_request_context, request
from flask.templating import Environment
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader


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
        if endpoint.startswith(".") or any(name.startswith("_") for name in values) or not has_request_context():
            return build(endpoint, **values)
        try:
            arguments = tuple(sorted((name, type(value), value) for name, value in values.items()))
            return remembered(request.script_root, endpoint, arguments)
        except TypeError:  # an argument that cannot be a cache key (a list, say)
            return build(endpoint, **values)

    return url_for
