"""Account pages: /auth/register, /auth/login, /auth/otp, /auth/reset, /auth/logout."""

from __future__ import annotations

from urllib.parse import unquote

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.auth import accounts, bp, otp, pages, throttle, tokens
from app.auth.forms import (
    ButtonForm,
    CodeForm,
    LoginForm,
    NewPasswordForm,
    RegisterForm,
    ResetRequestForm,
)
from app.auth.passwords import PasswordRefused
from app.auth.sessions import login as sessions
from app.extensions import login_manager
from app.mail import notifications

HOME = "dashboard.list_apps"
CHECK_INBOX = (
    "Check your inbox: we sent a link to confirm your address. It may take a minute to arrive."
)
LOGIN_REFUSED = "Invalid email or password."
RESET_SENT = "If an account exists for that address, we sent it a link to reset the password."

pages.attach(bp)
login_manager.user_loader(sessions.load_user)
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."
login_manager.login_message_category = "info"


def _throttled_message(error: throttle.Throttled, what: str) -> str:
    return f"Too many {what}. Try again in {error.minutes} minute(s)."


@bp.route("/register", methods=["GET", "POST"])
def register() -> str | Response:
    """Create an account; the address must be confirmed before the first login."""
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            throttle.spend("mail", form.email.data, "MAIL_REQUEST_LIMIT")
            accounts.register(form.email.data, form.password.data)
        except PasswordRefused as refused:
            form.password.errors = [str(refused)]
        except throttle.Throttled as error:
            flash(_throttled_message(error, "requests for this address"), "error")
        else:
            flash(CHECK_INBOX, "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/register.html", form=form)


@bp.get("/confirm/<token>")
def confirm(token: str) -> Response:
    """Confirm an address from the emailed single-use link."""
    if accounts.confirm(token) is None:
        flash(
            "This confirmation link is not valid: it was used already or has expired. "
            "Log in to get a new one.",
            "error",
        )
    else:
        flash("Your email address is confirmed. You can log in now.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    """Step one: check the password, then email a one-time code."""
    if current_user.is_authenticated:
        return redirect(url_for(HOME))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data
        try:
            throttle.begin_login(email)
        except throttle.Throttled as error:
            flash(_throttled_message(error, "failed logins"), "error")
            return render_template("auth/login.html", form=form), 429
        user = accounts.authenticate(email, form.password.data)
        if user is None:
            throttle.login_failed(email)
            flash(LOGIN_REFUSED, "error")
        elif user.confirmed_at is None:
            _resend_confirmation(user)
            flash(
                "Confirm your email address before logging in: use the link we emailed you. "
                "We sent a new link.",
                "error",
            )
        else:
            throttle.login_succeeded(email)
            return _send_code(user, next_url=_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.route("/otp", methods=["GET", "POST"])
def otp_step() -> str | Response:
    """Step two: accept the emailed code once, then start the session."""
    user = sessions.pending_user()
    if user is None:
        flash("Log in with your email and password first.", "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        outcome = otp.verify(user.id, form.code.data)
        if outcome is otp.Outcome.ACCEPTED:
            next_url = sessions.complete_login(user)
            return redirect(next_url or url_for(HOME))
        if outcome is otp.Outcome.WRONG:
            form.code.errors = ["That code is not right. Check the latest email and try again."]
        else:
            form.code.errors = [
                "This code no longer works (expired, used, replaced or too many tries). "
                "Send a new code."
            ]
    return render_template("auth/otp.html", form=form, resend=ButtonForm(), email=user.email)


@bp.post("/otp/resend")
def resend_code() -> Response:
    """Email a new code (the previous one stops working)."""
    form = ButtonForm()
    user = sessions.pending_user()
    if user is None or not form.validate_on_submit():
        flash("Log in with your email and password first.", "info")
        return redirect(url_for("auth.login"))
    pending_next = (session.get(sessions.PENDING) or {}).get("next")
    return _send_code(user, next_url=pending_next, resent=True)


@bp.route("/reset", methods=["GET", "POST"])
def reset_request() -> str | Response:
    """Ask for a password reset link (the answer never tells whether the account exists)."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        try:
            throttle.spend("mail", form.email.data, "MAIL_REQUEST_LIMIT")
        except throttle.Throttled as error:
            flash(_throttled_message(error, "requests for this address"), "error")
            return render_template("auth/reset_request.html", form=form), 429
        minutes = current_app.config["PASSWORD_RESET_MINUTES"]
        accounts.request_reset(form.email.data, minutes)
        flash(f"{RESET_SENT} The link works once, for {minutes} minutes.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form)


# The emailed link's token moves into the session at once, so the form's own URL, the
# Referer of its assets and the browser's history never hold it.
RESET_TOKEN = "reset_token"
LINK_PURPOSES = ("reset", "set_password")
INVALID_LINK = (
    "This link is not valid: it was used already or has expired. Ask for a new one below."
)


@bp.get("/reset/<token>")
def reset_link(token: str) -> Response:
    """Open a reset (or operator's set-password) link: keep its token, show the form."""
    if tokens.find(token, LINK_PURPOSES) is None:
        flash(INVALID_LINK, "error")
        return redirect(url_for("auth.reset_request"))
    session[RESET_TOKEN] = token
    return redirect(url_for("auth.reset_password"))


@bp.route("/reset/new", methods=["GET", "POST"])
def reset_password() -> str | Response:
    """Set a new password with the token the link left in the session."""
    token = session.get(RESET_TOKEN)
    if not token or tokens.find(token, LINK_PURPOSES) is None:
        session.pop(RESET_TOKEN, None)
        flash(INVALID_LINK, "error")
        return redirect(url_for("auth.reset_request"))
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            user = accounts.reset_password(token, form.password.data)
        except PasswordRefused as refused:
            form.password.errors = [str(refused)]
        else:
            session.pop(RESET_TOKEN, None)
            if user is None:
                flash("This link was used already. Ask for a new one below.", "error")
                return redirect(url_for("auth.reset_request"))
            sessions.end()
            flash("Your password is set, and every session was logged out. Log in now.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form)


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> str | Response:
    """Log out (POST); GET shows the button, so a link elsewhere cannot log anyone out."""
    form = ButtonForm()
    if request.method == "POST" and form.validate_on_submit():
        if current_user.is_authenticated:
            sessions.end_everywhere(current_user)
        sessions.end()
        flash("You are logged out.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/logout.html", form=form)


def _send_code(user, next_url: str | None, resent: bool = False) -> str | Response:
    try:
        throttle.spend("otp", user.email, "OTP_REQUEST_LIMIT")
    except throttle.Throttled as error:
        flash(_throttled_message(error, "login codes requested"), "error")
        if resent:
            return redirect(url_for("auth.otp_step"))
        return render_template("auth/login.html", form=LoginForm()), 429
    sessions.begin_pending(user, next_url)
    code = otp.issue(user.id)
    notifications.login_code(user.email, code)
    if resent:  # the code page itself says where the first code went
        flash(f"We sent a new code to {user.email}; the previous one no longer works.", "success")
    return redirect(url_for("auth.otp_step"))


def _resend_confirmation(user) -> None:
    try:
        throttle.spend("mail", user.email, "MAIL_REQUEST_LIMIT")
    except throttle.Throttled:
        return  # a link went out recently; the message still says to use it
    accounts.send_confirmation(user)


def _safe_next(target: str | None) -> str | None:
    """Accept only a local path as the place to go after login.

    Browsers drop tabs and newlines from a Location and read a backslash as a slash, so
    "/<TAB>/evil.example" and "/%5Cevil.example" lead off-site. The target, and every
    decoding of it, must start with exactly one "/" and hold no control character and no
    backslash; anything else lands on the apps page.
    """
    if not target:
        return None
    forms = [target]
    while "%" in forms[-1] and len(forms) < 4:
        forms.append(unquote(forms[-1]))
    for form in forms:
        if any(ord(char) < 0x20 or char in "\\\x7f" for char in form):
            return None
        if not form.startswith("/") or form.startswith("//"):
            return None
    return target
