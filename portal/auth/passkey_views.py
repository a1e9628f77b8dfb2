"""Passkeys and security keys: choosing one at enrolment, signing in with one, adding and removing them.

Each page that runs a ceremony starts it on the server (a fresh challenge, its handle kept in the signed state
cookie) and hands the options to static/src/passkeys.js in a data attribute; the script posts the browser's
answer with the form. Without JavaScript or WebAuthn the page says plainly what to do instead.
"""

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm

from portal import access
from portal.auth import login, passkeys, services
from portal.auth import passkey_forms as forms
from portal.auth.views import ENROLMENT_LINKS
from portal.errors import or_404
from portal.models import AccountLink, LinkPurpose, User, UserSession
from portal.web import Page, add_error, filled

bp = Blueprint("passkeys", __name__)

HANDLE = "passkey_handle"  # the state cookie's name for the handle of the ceremony under way


@bp.errorhandler(services.LinkProblem)
def _link_problem(problem: services.LinkProblem) -> tuple[str, int]:
    """An emailed link that cannot be used says plainly why, as on the other pages it leads to."""
    return render_template("auth/link_problem.html", problem=str(problem)), 404


def _client() -> tuple[str, str]:
    return request.remote_addr or "", request.headers.get("User-Agent", "")


def _start(purpose: passkeys.Purpose, user: User | None = None, auth_session: UserSession | None = None) -> str:
    """Start a ceremony; keep its handle in the state cookie; return the options for the page's script."""
    handle, options = passkeys.begin(purpose, user, auth_session)
    session[HANDLE] = handle
    return options


def _handle() -> str:
    """The handle of the ceremony under way, forgotten now: an answer is accepted once."""
    handle = session.pop(HANDLE, "")
    return handle if isinstance(handle, str) else ""


def _status(form: FlaskForm) -> int:
    return 400 if form.errors else 200


# Signing in ----------------------------------------------------------------------------------------------


@bp.route("/sign-in/passkey", methods=["GET", "POST"])
@access.public
def sign_in() -> Page:
    """"Sign in with a passkey": a passkey that checks a PIN, fingerprint or face is both factors at once."""
    if access.current_user() is not None:
        return redirect(url_for("pages.dashboard"))
    form = forms.PasskeyForm()
    if form.validate_on_submit():
        outcome = passkeys.sign_in_passwordless(_handle(), filled(form.credential.data), *_client(), g.auth_session)
        if outcome.ok:
            login.set_cookie(outcome.token)
            return redirect(login.local_redirect_target(request.args.get("next")) or url_for("pages.dashboard"))
        add_error(form.credential, outcome.message)
    options = _start(passkeys.Purpose.PASSWORDLESS)
    return render_template("auth/passkey_sign_in.html", form=form, options=options), _status(form)


@bp.route("/sign-in/passkey/key", methods=["GET", "POST"])
@access.pending_code
def second_factor() -> Page:
    """After the password: a passkey or security key instead of a security code."""
    if access.current_user() is not None:
        return redirect(url_for("pages.dashboard"))
    if g.pending_user is None:
        return redirect(url_for("auth.sign_in"))
    form = forms.PasskeyForm()
    if form.validate_on_submit():
        outcome = passkeys.sign_in_second_factor(g.auth_session, _handle(), filled(form.credential.data), *_client())
        if outcome.ok:
            login.set_cookie(outcome.token)
            return redirect(login.local_redirect_target(request.args.get("next")) or url_for("pages.dashboard"))
        add_error(form.credential, outcome.message)
    options = _start(passkeys.Purpose.SECOND_FACTOR, g.pending_user, g.auth_session)
    return render_template("auth/passkey_second_factor.html", form=form, options=options,
                           has_app=passkeys.has_authenticator_app(g.pending_user)), _status(form)


# Enrolment -------------------------------------------------------------------------------------------------


def _enrolment_link(token: str) -> AccountLink:
    return services.find_link(token, ENROLMENT_LINKS)


@bp.route("/invite/<token>/passkey", methods=["GET", "POST"])
@access.public
def enrol(token: str) -> Page:
    """Set up a passkey or security key; the recovery codes are shown once and the person is signed in."""
    link = _enrolment_link(token)
    if not services.password_chosen(link):
        return redirect(url_for("auth.accept_link", token=token))
    form = forms.NewPasskeyForm()
    if form.validate_on_submit():
        outcome = passkeys.enrol_with_passkey(link, _handle(), filled(form.credential.data), filled(form.name.data),
                                              *_client(), g.auth_session)
        if outcome.ok:
            login.set_cookie(outcome.token)
            return render_template("auth/recovery_codes.html", codes=outcome.recovery_codes, first_time=True)
        add_error(form.credential, outcome.message)
    options = _start(passkeys.Purpose.REGISTER, link.user)
    return render_template("auth/passkey_enrol.html", form=form, options=options, token=token), _status(form)


@bp.route("/invite/<token>/reset-passkey", methods=["POST"])
@access.public
def reset_enrol(token: str) -> Page:
    """The Lead's reset, after the password: a passkey or security key instead of a new authenticator app."""
    link = services.find_link(token, (LinkPurpose.RESET,))
    if not services.keeps_password(link):
        return redirect(url_for("auth.accept_link", token=token))
    starting = bool(request.form.get("start"))  # arrived from the QR code page: nothing to check yet
    form = forms.ResetPasskeyForm(formdata=None, pending=request.form.get("pending", "")) if starting \
        else forms.ResetPasskeyForm()
    if not passkeys.reset_setup_open(link, form.pending.data or ""):
        return redirect(url_for("auth.accept_link", token=token))
    if not starting and form.validate_on_submit():
        outcome = passkeys.reset_with_passkey(link, filled(form.pending.data), _handle(), filled(form.credential.data),
                                              filled(form.name.data), *_client(), g.auth_session)
        if outcome.ok:
            login.set_cookie(outcome.token)
            return render_template("auth/recovery_codes.html", codes=outcome.recovery_codes, first_time=False)
        add_error(form.credential, outcome.message)
    options = _start(passkeys.Purpose.REGISTER, link.user)
    return render_template("auth/passkey_reset.html", form=form, options=options, token=token), _status(form)


# The account page ------------------------------------------------------------------------------------------


def _confirm_page(template: str, form: forms.ConfirmItIsYouForm, status: int, **context: object) -> tuple[str, int]:
    """A page asking for the password and a second factor (a code, a recovery code or a passkey)."""
    user = access.require_user()
    started = passkeys.confirm_passkey_options(user, g.auth_session)
    if started is not None:
        session[HANDLE] = started[0]
    return render_template(template, form=form, options=started[1] if started else "", **context), status


@bp.route("/account/passkeys/add", methods=["GET", "POST"])
@access.signed_in
def add() -> Page:
    """Add a passkey, step 1: confirm it is you (the password and a second factor)."""
    user = access.require_user()
    form = forms.ConfirmItIsYouForm()
    if form.validate_on_submit():
        outcome = passkeys.start_adding(user, g.auth_session, filled(form.password.data),
                                        form.code.data or "", _handle(), form.credential.data or "")
        if outcome.ok:
            return _new_passkey_page(forms.AddPasskeyForm(formdata=None, pending=outcome.pending), 200)
        add_error(form[outcome.field if outcome.field != "credential" else "code"], outcome.message)
    return _confirm_page("auth/passkey_add.html", form, _status(form))


def _new_passkey_page(form: forms.AddPasskeyForm, status: int) -> tuple[str, int]:
    options = _start(passkeys.Purpose.REGISTER, access.require_user(), g.auth_session)
    return render_template("auth/passkey_add_new.html", form=form, options=options), status


@bp.route("/account/passkeys/add/new", methods=["POST"])
@access.signed_in
def add_new() -> Page:
    """Step 2: name the new passkey and use it once; it is added."""
    user = access.require_user()
    form = forms.AddPasskeyForm()
    if form.validate_on_submit():
        outcome = passkeys.add_passkey(user, g.auth_session, filled(form.pending.data), _handle(),
                                       filled(form.credential.data), filled(form.name.data))
        if outcome.ok:
            flash("Your passkey or security key has been added. You can use it the next time you sign in.")
            return redirect(url_for("auth.account"))
        if outcome.message == services.SETUP_EXPIRED:
            start = forms.ConfirmItIsYouForm(formdata=None)
            start.password.errors = [services.SETUP_EXPIRED]
            return _confirm_page("auth/passkey_add.html", start, 400)
        add_error(form.credential, outcome.message)
    elif not passkeys.may_add(user, g.auth_session, form.pending.data or ""):
        return redirect(url_for("passkeys.add"))
    return _new_passkey_page(form, 400)


@bp.route("/account/passkeys/<int:passkey_id>/remove", methods=["GET", "POST"])
@access.signed_in
def remove(passkey_id: int) -> Page:
    """Remove a passkey, with the password and a second factor; never the last way to sign in."""
    user = access.require_user()
    passkey = or_404(passkeys.passkey_of(user, passkey_id))
    form = forms.ConfirmItIsYouForm()
    if form.validate_on_submit():
        outcome = passkeys.remove_passkey(user, g.auth_session, passkey, filled(form.password.data),
                                          form.code.data or "", _handle(), form.credential.data or "")
        if outcome.ok:
            flash("The passkey or security key has been removed. Any other sessions have been signed out.")
            return redirect(url_for("auth.account"))
        add_error(form[outcome.field if outcome.field != "credential" else "code"], outcome.message)
    last = passkeys.count_of(user) <= 1 and not passkeys.has_authenticator_app(user)
    return _confirm_page("auth/passkey_remove.html", form, _status(form), passkey=passkey, last=last)
