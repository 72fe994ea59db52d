from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from haiku import throttle
from haiku.core.csr import KeyOrigin
from haiku.core.names import skeleton
from haiku.core.render import Keying, NodeKind
from haiku.core.scopes import SCOPES, grantable
from haiku.models import User
from haiku.nodes import MAX_PREFIXES, NodeRequest
from haiku.throttle import Throttle

KEY_ORIGINS = [(KeyOrigin.SERVICE.value, "made by the service (kept in its database)"),
               (KeyOrigin.NODE.value, "made on the node (it sends a certificate request)")]
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


class RegisterForm(UserCreationForm):
    """Django's registration form, refusing confusable names and known e-mail addresses,
    throttled per client address and per e-mail address (every attempt counts,
    :mod:`haiku.throttle`)."""

    email = forms.EmailField(required=True)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def __init__(self, *args: Any, client: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = client

    def throttled(self) -> dict[Throttle, str]:
        """The subjects this attempt counts for: its client, the e-mail address it names."""
        email = str(self.data.get("email", "")).strip()
        return {Throttle.REGISTRATION_ADDRESS: self.client,
                **({Throttle.REGISTRATION_EMAIL: email} if email else {})}

    def clean(self) -> dict[str, Any]:
        subjects = self.throttled()
        for kind, subject in subjects.items():
            refused = throttle.refusal(kind, subject)
            if refused:
                raise forms.ValidationError(refused, code="throttled")
        for kind, subject in subjects.items():
            throttle.counted(kind, subject)
        return super().clean()

    def clean_username(self) -> str:
        name = str(self.cleaned_data["username"])
        mine = skeleton(name)
        if any(skeleton(taken) == mine
               for taken in User.objects.values_list("username", flat=True)):
            raise forms.ValidationError(
                f"{name!r} is taken, or too much like an existing account name (letters "
                "that look alike, or only a different case); choose another one.")
        return name

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"])
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this e-mail address exists already. Log in with it, or "
                "set a new password with \u201cForgot your password?\u201d on the log-in page.")
        return email


# Why an account with the right password may not log in (User.state), and what to do.
ACCOUNT_STATES = {
    "disabled": "This account is disabled. If you think it should not be, ask the "
                "service's operator.",
    "e-mail not confirmed": "Confirm your e-mail address first: open the link in the "
                            "e-mail we sent you when you registered.",
    "awaiting approval": "Your account is waiting for an operator's approval; you can log "
                         "in once it is approved.",
}


class LoginForm(AuthenticationForm):
    """Django's log-in form, with a lockout after too many failed attempts per account
    name (:mod:`haiku.throttle`), and the reason when the password is right but the
    account may not log in (Django says "incorrect password" then)."""

    @staticmethod
    def _held_account(name: str | None, password: str | None) -> User | None:
        user = User.objects.filter(username=name).first() if name and password else None
        if user is None or user.can_log_in or not user.check_password(password):
            return None
        return user

    def clean(self) -> dict[str, Any]:
        name = self.cleaned_data.get("username")
        refused = throttle.refusal(Throttle.LOGIN, name) if name else None
        if refused:
            raise forms.ValidationError(refused, code="locked")
        try:
            data: dict[str, Any] = super().clean()
        except forms.ValidationError:
            held = self._held_account(name, self.cleaned_data.get("password"))
            if held:
                raise forms.ValidationError(ACCOUNT_STATES[held.state], code="inactive") \
                    from None
            if name:
                throttle.counted(Throttle.LOGIN, name)
            raise
        if name:
            throttle.cleared(Throttle.LOGIN, name)
        return data


class NodeIdentityForm(forms.Form):
    """What can change on an existing node: its name and interface (the API's update)."""

    # The length limit is on what was sent, as the API document says (and the browser
    # enforces); surrounding spaces are stripped after.
    name = forms.CharField(max_length=64, strip=False,
                           help_text="A name you recognise it by.")
    interface = forms.CharField(max_length=15, initial="eth0",
                                help_text="The interface the node moves with.")

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name or not name.isprintable():
            raise forms.ValidationError("Use printable characters only.")
        return name

    def clean_interface(self) -> str:
        value = str(self.cleaned_data["interface"])
        if not _IFNAME.match(value) or value in (".", ".."):
            raise forms.ValidationError("1 to 15 letters, digits, '.', '_' or '-'.")
        return value


class NodeForm(NodeIdentityForm):
    """A new node (the web form and the API's create)."""

    field_order = ["name", "kind", "prefix_count", "keying", "key_origin",
                   "protect_all_traffic", "interface"]
    kind = forms.ChoiceField(choices=[(NodeKind.HOST.value, "mobile host"),
                                      (NodeKind.ROUTER.value, "mobile router (NEMO)")])
    prefix_count = forms.IntegerField(
        min_value=0, max_value=MAX_PREFIXES, initial=0, label="Mobile network prefixes",
        help_text="For a mobile router: how many prefixes it routes (1 or more).")
    keying = forms.ChoiceField(choices=[
        (Keying.STATIC.value, "static keys (RFC 3776, manual SAs)"),
        (Keying.CERTIFICATE.value, "certificate from the service's CA (IKEv2)")])
    key_origin = forms.ChoiceField(
        choices=KEY_ORIGINS, initial=KeyOrigin.SERVICE.value, required=False,
        label="Certificate key",
        help_text="Where the node's private key is made. On the node, it never leaves it: "
                  "the node sends a certificate request when it enrolls (its image needs "
                  "strongswan-pki, which the Homeguy roles install).")
    protect_all_traffic = forms.BooleanField(
        required=False, label="Protect all traffic",
        help_text="Also encrypt everything tunnelled to the home agent, not only signalling.")

    def clean_key_origin(self) -> str:
        return str(self.cleaned_data.get("key_origin") or KeyOrigin.SERVICE.value)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, count = data.get("kind"), data.get("prefix_count")
        if kind == NodeKind.HOST.value and count:
            self.add_error("prefix_count", "A mobile host has no mobile network prefixes.")
        if kind == NodeKind.ROUTER.value and not count:
            self.add_error("prefix_count", "A mobile router needs at least one prefix.")
        if data.get("key_origin") == KeyOrigin.NODE.value \
                and data.get("keying") != Keying.CERTIFICATE.value:
            self.add_error("key_origin", "A key made on the node needs certificate keying "
                           "(static keys are the service's).")
        return data

    def node_request(self) -> NodeRequest:
        """The valid form as a request to :func:`haiku.nodes.create_node`."""
        data = self.cleaned_data
        return NodeRequest(name=data["name"], kind=NodeKind(data["kind"]),
                           prefix_count=data["prefix_count"], keying=Keying(data["keying"]),
                           protect_all_traffic=data["protect_all_traffic"],
                           interface=data["interface"],
                           key_origin=KeyOrigin(data["key_origin"]))


class ApiTokenForm(forms.Form):
    """A new API token: a name and the scopes this user may grant."""

    name = forms.CharField(max_length=64, help_text="What uses it, e.g. \u201cansible\u201d.")
    scopes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["scopes"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(s.value, f"{s.value}: {SCOPES[s].description}")
                         for s in grantable(user.is_operator)]

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name or not name.isprintable():
            raise forms.ValidationError("Use printable characters only.")
        return name


class MessageForm(forms.Form):
    subject = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea)
    recipients = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None selected: every active user with an e-mail address.")

    def clean_subject(self) -> str:
        subject = str(self.cleaned_data["subject"])
        if "\n" in subject or "\r" in subject:
            raise forms.ValidationError("The subject must be one line: remove the line breaks.")
        return subject

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["recipients"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = User.objects.filter(is_active=True).exclude(email="") \
            .order_by("username")


def registration_policy() -> dict[str, bool]:
    return {"email_confirmation": settings.HAIKU.email_confirmation,
            "operator_approval": settings.HAIKU.operator_approval}
