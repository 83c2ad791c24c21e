"""Forms of the developer pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from app.auth.addresses import Address


class CreateAppForm(FlaskForm):
    name = StringField("App name", validators=[InputRequired(), Length(max=120)])
    submit = SubmitField("Create app")


class InviteForm(FlaskForm):
    email = EmailField(
        "Developer's email",
        validators=[InputRequired(), Address(message="Enter a valid email address.")],
    )
    submit = SubmitField("Invite")


class RotateKeyForm(FlaskForm):
    overlap_hours = SelectField(
        "Old keys keep working for",
        choices=[
            SelectChoice("0", "no time: stop now"),
            SelectChoice("1", "1 hour"),
            SelectChoice("24", "24 hours"),
            SelectChoice("168", "7 days"),
        ],
        default="24",
    )
    submit = SubmitField("Rotate key")
