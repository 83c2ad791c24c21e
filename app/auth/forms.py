"""Account forms. Field names (email, password, code, csrf_token) are a public interface."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import InputRequired, Length

from app.auth.addresses import Address
from app.auth.passwords import MAX_LENGTH, MIN_LENGTH

EMAIL_FIELD = EmailField(
    "Email",
    validators=[
        InputRequired(),
        Address(message="Enter a valid email address."),
        Length(max=254),
    ],
)


class RegisterForm(FlaskForm):
    email = EMAIL_FIELD
    password = PasswordField(
        "Password",
        validators=[
            InputRequired(),
            Length(
                min=MIN_LENGTH,
                max=MAX_LENGTH,
                message=f"Use {MIN_LENGTH} to {MAX_LENGTH} characters for your password.",
            ),
        ],
        description=f"{MIN_LENGTH} to {MAX_LENGTH} characters; a passphrase works well.",
    )
    submit = SubmitField("Create account")


class LoginForm(FlaskForm):
    email = EMAIL_FIELD
    # No length rule here: a refused login must not reveal the password policy's checks.
    password = PasswordField("Password", validators=[InputRequired(), Length(max=1024)])
    submit = SubmitField("Continue")


class CodeForm(FlaskForm):
    code = StringField(
        "6-digit code",
        validators=[InputRequired(), Length(max=12)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField("Log in")


class ResetRequestForm(FlaskForm):
    email = EMAIL_FIELD
    submit = SubmitField("Send reset link")


class NewPasswordForm(FlaskForm):
    password = RegisterForm.password
    submit = SubmitField("Set password")


class ButtonForm(FlaskForm):
    """A form with only its CSRF token, for buttons that POST (logout, resend code)."""
