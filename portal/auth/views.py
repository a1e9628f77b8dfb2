"""Sign-in, sign-out, emailed links, enrolment, password help and the account page."""

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from portal import access
from portal.auth import forms, keeping, login, passkeys, services, sessions
from portal.models import AccountLink, LinkPurpose
from portal.web import Page, add_error, filled

bp = Blueprint("auth", __name__)

ENROLMENT_LINKS = (LinkPurpose.INVITATION, LinkPurpose.FIRST_ADMIN, LinkPurpose.RESET, LinkPurpose.FULL_RESET)


def _client() -> tuple[str, str]:
    return request.remote_addr or "", request.headers.get("User-Agent", "")


@bp.errorhandler(services.LinkProblem)
def _link_problem(problem: services.LinkProblem) -> tuple[str, int]:
    """Any page reached by an emailed link that cannot be used says plainly why."""
    return render_template("auth/link_problem.html", problem=str(problem)), 404


@bp.route("/sign-in", methods=["GET", "POST"])
@access.public
def sign_in() -> Page:
    """Step 1: email and password."""
    if access.current_user() is not None:
        return redirect(url_for("pages.dashboard"))
    form = forms.SignInForm()
    next_path = login.local_redirect_target(request.args.get("next"))
    if form.validate_on_submit():
        outcome = services.sign_in_password(filled(form.email.data), filled(form.password.data), *_client(),
                                            g.auth_session)
        if outcome.ok:
            login.set_cookie(outcome.token)
            return redirect(url_for("auth.security_code", next=next_path) if next_path
                            else url_for("auth.security_code"))
        add_error(form.email, outcome.message)
    return render_template("auth/sign_in.html", form=form), 200 if not form.errors else 400


@bp.route("/sign-in/code", methods=["GET", "POST"])
@access.pending_code
def security_code() -> Page:
    """Step 2: the security code (or a recovery code)."""
    if access.current_user() is not None:
        return redirect(url_for("pages.dashboard"))
    if g.pending_user is None:
        return redirect(url_for("auth.sign_in"))
    has_passkeys = passkeys.count_of(g.pending_user) > 0
    if request.method == "GET" and has_passkeys and request.args.get("use") != "code":
        # Their passkey first; codes are a link away. Only the page to return to travels on.
        next_path = login.local_redirect_target(request.args.get("next"))
        return redirect(url_for("passkeys.second_factor", next=next_path) if next_path
                        else url_for("passkeys.second_factor"))
    form = forms.CodeForm()
    if form.validate_on_submit():
        outcome = services.sign_in_code(g.auth_session, filled(form.code.data), *_client())
        if outcome.ok:
            login.set_cookie(outcome.token)
            target = login.local_redirect_target(request.args.get("next"))
            return redirect(target or url_for("pages.dashboard"))
        add_error(form.code, outcome.message)
    return render_template("auth/security_code.html", form=form, has_passkeys=has_passkeys,
                           has_app=passkeys.has_authenticator_app(g.pending_user)), 200 if not form.errors else 400


@bp.route("/sign-out", methods=["POST"])
@access.pending_code
def sign_out() -> Response:
    """End the session: the record is deleted, so the old cookie is worthless."""
    services.sign_out(g.auth_session, access.current_user() or g.pending_user)
    login.clear_cookie()
    flash("You have signed out.")
    return redirect(url_for("auth.sign_in"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
@access.public
def accept_link(token: str) -> Page:
    """Step 1 of an invitation or first-run link: choose a password; of the Lead's reset: the password again."""
    link = services.find_link(token, ENROLMENT_LINKS)
    if services.keeps_password(link):
        return _reset_start(link, token)
    first_admin = link.purpose == LinkPurpose.FIRST_ADMIN
    form = forms.FirstAdminForm() if first_admin else forms.ChoosePasswordForm(email=link.email)
    if form.validate_on_submit():
        email = form.email.data if first_admin else link.email
        name = form.name.data if first_admin else link.name
        outcome = services.set_password_from_link(link, name, email, filled(form.password.data))
        if outcome.ok:
            return redirect(url_for("auth.enrol", token=token))
        add_error(form.email if first_admin else form.password, outcome.message)
    return render_template("auth/choose_password.html", form=form, link=link, first_admin=first_admin), (
        400 if form.errors else 200
    )


@bp.route("/invite/<token>/authenticator", methods=["GET", "POST"])
@access.public
def enrol(token: str) -> Page:
    """Step 2: set up the authenticator app, confirm a code, then see the recovery codes once."""
    link = services.find_link(token, ENROLMENT_LINKS)
    if not services.password_chosen(link):
        return redirect(url_for("auth.accept_link", token=token))
    form = forms.EnrolForm()
    if form.validate_on_submit():
        outcome = services.confirm_enrolment(link, filled(form.code.data), *_client(), g.auth_session)
        if outcome.ok:
            login.set_cookie(outcome.token)
            return render_template("auth/recovery_codes.html", codes=outcome.recovery_codes, first_time=True)
        add_error(form.code, outcome.message)
    return render_template("auth/enrol.html", form=form, token=token, **services.enrolment_details(link)), (
        400 if form.errors else 200
    )


def _reset_start(link: AccountLink, token: str) -> tuple[str, int]:
    """The Lead reset this person's sign-in: they confirm their password, then scan a new QR code."""
    form = forms.ResetSignInForm()
    if form.validate_on_submit():
        outcome = services.start_reset_setup(link, filled(form.password.data), _client()[0])
        if outcome.ok:
            return _reset_scan_page(link, token, forms.NewAuthenticatorForm(formdata=None, pending=outcome.pending),
                                    outcome.pending)
        add_error(form.password, outcome.message)
    return render_template("auth/reset_sign_in.html", form=form, link=link), 400 if form.errors else 200


def _reset_scan_page(link: AccountLink, token: str, form: forms.NewAuthenticatorForm, sealed: str,
                     status: int = 200) -> tuple[str, int]:
    details = services.pending_reset_setup(link, sealed)
    if details is None:
        start = forms.ResetSignInForm(formdata=None)
        start.password.errors = [services.RESET_SETUP_EXPIRED]
        return render_template("auth/reset_sign_in.html", form=start, link=link), 400
    return render_template("auth/reset_scan.html", form=form, token=token, **details), status


@bp.route("/invite/<token>/new-authenticator", methods=["POST"])
@access.public
def reset_authenticator(token: str) -> Page:
    """Step 2 of the Lead's reset: a code from the new app sets it up; the recovery codes are shown once."""
    link = services.find_link(token, (LinkPurpose.RESET,))
    if not services.keeps_password(link):
        return redirect(url_for("auth.accept_link", token=token))
    form = forms.NewAuthenticatorForm()
    if form.validate_on_submit():
        outcome = services.confirm_reset_setup(link, filled(form.pending.data), filled(form.code.data), *_client(),
                                               g.auth_session)
        if outcome.ok:
            login.set_cookie(outcome.token)
            return render_template("auth/recovery_codes.html", codes=outcome.recovery_codes, first_time=False,
                                   new_authenticator=True)
        add_error(form.code, outcome.message)
    return _reset_scan_page(link, token, form, form.pending.data or "", 400)


@bp.route("/password-help", methods=["GET", "POST"])
@access.public
def password_help() -> Page:
    """Ask for a link to choose a new password."""
    form = forms.PasswordHelpForm()
    if form.validate_on_submit():
        services.request_password_help(filled(form.email.data), _client()[0])
        return render_template("auth/password_help_sent.html")
    return render_template("auth/password_help.html", form=form), 400 if form.errors else 200


@bp.route("/password-help/<token>", methods=["GET", "POST"])
@access.public
def password_reset(token: str) -> Page:
    """Choose a new password, confirmed with a security or recovery code."""
    link = services.find_link(token, (LinkPurpose.PASSWORD,))
    form = forms.ResetPasswordForm(email=link.email)
    if form.validate_on_submit():
        outcome = services.reset_password(link, filled(form.code.data), filled(form.password.data), _client()[0])
        if outcome.ok:
            login.clear_cookie()
            flash("Your password has been changed. Sign in with your new password.")
            return redirect(url_for("auth.sign_in"))
        add_error(form.code, outcome.message)
    return render_template("auth/password_reset.html", form=form), 400 if form.errors else 200


@bp.route("/account")
@access.signed_in
def account() -> str:
    """The person's own account: password, recovery codes, recent sign-ins and sessions."""
    user = access.require_user()
    return render_template(
        "auth/account.html",
        user=user,
        sign_ins=services.recent_sign_ins(user),
        sessions=sessions.active(user),
        current_session=g.auth_session,
        codes_left=services.unused_recovery_codes(user),
        passkeys=passkeys.passkeys_of(user),
        has_app=passkeys.has_authenticator_app(user),
    )


@bp.route("/account/password", methods=["GET", "POST"])
@access.signed_in
def change_password() -> Page:
    """Change the password; other sessions end."""
    user = access.require_user()
    form = forms.ChangePasswordForm(email=user.email)
    if form.validate_on_submit():
        outcome = services.change_password(user, g.auth_session, filled(form.current.data), filled(form.code.data),
                                           filled(form.password.data))
        if outcome.ok:
            flash("Your password has been changed. Any other sessions have been signed out.")
            return redirect(url_for("auth.account"))
        add_error(form.current, outcome.message)
    return render_template("auth/change_password.html", form=form), 400 if form.errors else 200


@bp.route("/account/recovery-codes", methods=["GET", "POST"])
@access.signed_in
def recovery_codes() -> Page:
    """Replace the recovery codes (shown once); other sessions end."""
    user = access.require_user()
    form = forms.RegenerateCodesForm()
    if form.validate_on_submit():
        outcome = services.regenerate_recovery_codes(user, g.auth_session, filled(form.password.data),
                                                     filled(form.code.data))
        if outcome.ok:
            return render_template("auth/recovery_codes.html", codes=outcome.recovery_codes, first_time=False)
        add_error(form[outcome.field], outcome.message)
    return render_template("auth/regenerate_codes.html", form=form,
                           codes_left=services.unused_recovery_codes(user)), 400 if form.errors else 200


@bp.route("/account/authenticator", methods=["GET", "POST"])
@access.signed_in
def new_authenticator() -> Page:
    """Set up a new authenticator app, step 1: the password and a current or recovery code; step 2 the QR code."""
    user = access.require_user()
    form = forms.ConfirmPasswordForm()
    if form.validate_on_submit():
        outcome = services.start_authenticator_change(user, g.auth_session, filled(form.password.data),
                                                      filled(form.code.data))
        if outcome.ok:
            return _scan_page(forms.NewAuthenticatorForm(formdata=None, pending=outcome.pending), outcome.pending)
        add_error(form[outcome.field], outcome.message)
    return render_template("auth/new_authenticator.html", form=form), 400 if form.errors else 200


@bp.route("/account/authenticator/confirm", methods=["POST"])
@access.signed_in
def confirm_new_authenticator() -> Page:
    """Step 2: a code from the new app replaces the old one; the new recovery codes are shown once."""
    user = access.require_user()
    form = forms.NewAuthenticatorForm()
    if form.validate_on_submit():
        outcome = services.confirm_authenticator_change(user, g.auth_session, filled(form.pending.data),
                                                        filled(form.code.data))
        if outcome.ok:
            return render_template("auth/recovery_codes.html", codes=outcome.recovery_codes, first_time=False,
                                   new_authenticator=True)
        add_error(form.code, outcome.message)
    return _scan_page(form, form.pending.data or "", 400)


def _scan_page(form: forms.NewAuthenticatorForm, sealed: str, status: int = 200) -> tuple[str, int]:
    """The new QR code and key; a set-up that expired or was finished goes back to the password step."""
    details = services.pending_authenticator(access.require_user(), g.auth_session, sealed)
    if details is None:
        start = forms.ConfirmPasswordForm(formdata=None)
        start.password.errors = [services.SETUP_EXPIRED]
        return render_template("auth/new_authenticator.html", form=start), 400
    return render_template("auth/new_authenticator_scan.html", form=form, **details), status


@bp.route("/account/sessions/sign-out-others", methods=["POST"])
@access.signed_in
def sign_out_other_sessions() -> Response:
    """End every session of the person but this one."""
    ended = services.sign_out_other_sessions(access.require_user(), g.auth_session)
    flash("You have signed out everywhere else." if ended else "You were not signed in anywhere else.")
    return redirect(url_for("auth.account"))


# The timeout warning and kept forms ---------------------------------------------------------------------------


@bp.route("/session/time-left")
@access.signed_in
def session_time_left() -> Response:
    """How long the session has left, for the timeout warning; asking does not keep the session alive."""
    return jsonify(seconds_left=login.seconds_left())


@bp.route("/session/keep-alive", methods=["POST"])
@access.signed_in
def session_keep_alive() -> Response:
    """The warning's *Stay signed in*: the idle timeout starts again (a script gets JSON, a plain form a redirect)."""
    form = forms.KeepAliveForm()
    if not form.validate_on_submit():
        abort(400)
    sessions.keep_alive(g.auth_session)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(seconds_left=login.seconds_left())
    return redirect(login.local_redirect_target(form.next.data) or url_for("pages.dashboard"))


@bp.route("/signed-out")
@access.public
def signed_out() -> Page:
    """Where the timeout warning goes when time has run out: signed out, and how to carry on."""
    next_path = login.local_redirect_target(request.args.get("next"))
    if access.current_user() is not None:
        return redirect(next_path or url_for("pages.dashboard"))
    return render_template("auth/signed_out.html", next_path=next_path)


@bp.route("/unsaved-work")
@access.signed_in
def unsaved_work() -> str:
    """Forms sent after the session ended, kept for the person to save (or discard) now they are back."""
    user = access.require_user()
    return render_template("auth/unsaved_work.html", kept=keeping.kept_for(user), kept_field=keeping.KEPT_FIELD,
                           days=keeping.keep_days(), discard_form=forms.DiscardKeptForm())


@bp.route("/unsaved-work/<int:kept_id>/discard", methods=["POST"])
@access.signed_in
def discard_unsaved_work(kept_id: int) -> Response:
    """Throw away one kept form, at the person's request."""
    form = forms.DiscardKeptForm()
    if not form.validate_on_submit() or not keeping.discard(access.require_user(), kept_id):
        abort(404)
    flash("What you typed has been discarded.")
    return redirect(url_for("auth.unsaved_work"))


@bp.route("/sign-in/help")
@access.public
def cannot_sign_in() -> str:
    """What to do when signing in does not work, in plain words: lost password, new phone, lost every factor."""
    return render_template("auth/cannot_sign_in.html")
