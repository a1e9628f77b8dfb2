// Loaded at the top of <body> (not inline, because the CSP forbids inline script).
document.body.className += " js-enabled" + ("noModule" in HTMLScriptElement.prototype ? " govuk-frontend-supported" : "");
