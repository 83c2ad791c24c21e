"""Forms of the developer pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, SubmitField
from wtforms.validators import Email, InputRequired, Length


class CreateAppForm(FlaskForm):
    name = StringField("App name", validators=[InputRequired(), Length(max=120)])
    submit = SubmitField("Create app")


class InviteForm(FlaskForm):
    email = EmailField(
        "Developer's email",
        validators=[InputRequired(), Email(message="Enter a valid email address.")],
    )
    submit = SubmitField("Invite")
