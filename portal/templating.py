"""The portal's Jinja environment: the GOV.UK macros beside our templates, and cheap macro imports."""

from collections.abc import MutableMapping
from typing import Any

from flask import Flask
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
    app.jinja_loader = ChoiceLoader(
        [
            app.jinja_loader,  # type: ignore[list-item]
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
