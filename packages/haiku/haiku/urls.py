from django.contrib.auth import views as auth_views
from django.urls import path, register_converter
from django.views.decorators.http import require_POST

from haiku import api, isoview, views
from haiku.forms import LoginForm


class IdConverter:
    """A database id: 1 to 18 digits, so that no lookup overflows a 64-bit column."""

    regex = "[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    # First: the URL every node asks at each boot (patterns are tried in order, twice per
    # request with APPEND_SLASH).
    path("api/v1/node/config", api.self_config, name="api-self-config"),
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm),
         name="login"),
    # By POST only (with its CSRF token): a link or an image elsewhere cannot log people out.
    path("accounts/logout/", require_POST(auth_views.LogoutView.as_view()), name="logout"),
    path("accounts/register/", views.register, name="register"),
    path("accounts/register/done/", views.register_done, name="register-done"),
    path("accounts/confirm/<str:uidb64>/<str:token>/", views.confirm_email,
         name="confirm-email"),
    path("accounts/password/change/", auth_views.PasswordChangeView.as_view(),
         name="password_change"),
    path("accounts/password/change/done/", auth_views.PasswordChangeDoneView.as_view(),
         name="password_change_done"),
    path("accounts/password/reset/", auth_views.PasswordResetView.as_view(),
         name="password_reset"),
    path("accounts/password/reset/done/", auth_views.PasswordResetDoneView.as_view(),
         name="password_reset_done"),
    path("accounts/password/reset/<uidb64>/<token>/",
         auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("accounts/password/reset/complete/",
         auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("nodes/", views.node_list, name="node-list"),
    path("nodes/new/", views.node_create, name="node-create"),
    path("nodes/live.json", views.node_live, name="node-live"),
    path("live.js", views.live_js, name="live-js"),
    path("haiku.css", views.style_sheet, name="haiku-css"),
    path("nodes/<id:node_id>/", views.node_detail, name="node-detail"),
    path("nodes/<id:node_id>/delete/", views.node_delete, name="node-delete"),
    path("nodes/<id:node_id>/enable/", views.node_enable, name="node-enable"),
    path("nodes/<id:node_id>/disable/", views.node_disable, name="node-disable"),
    path("nodes/<id:node_id>/token/rotate/", views.node_token_rotate,
         name="node-token-rotate"),
    path("nodes/<id:node_id>/token/revoke/", views.node_token_revoke,
         name="node-token-revoke"),
    path("nodes/<id:node_id>/certificate/revoke/", views.node_certificate_revoke,
         name="node-certificate-revoke"),
    path("nodes/<id:node_id>/certificate/renew/", views.node_certificate_renew,
         name="node-certificate-renew"),
    path("accounts/api-tokens/", views.api_tokens, name="api-tokens"),
    path("accounts/api-tokens/<id:token_id>/revoke/", views.api_token_revoke,
         name="api-token-revoke"),
    path("ca/crl", views.ca_crl, name="ca-crl"),
    path("ca/crl.pem", views.ca_crl, {"encoding": "pem"}, name="ca-crl-pem"),
    path("ca/cert.pem", views.ca_certificate, name="ca-certificate"),
    path("operator/users/", views.operator_users, name="operator-users"),
    path("operator/certificates/", views.operator_certificates,
         name="operator-certificates"),
    path("operator/nodes/<id:node_id>/certificate/revoke/", views.operator_certificate_revoke,
         name="operator-certificate-revoke"),
    path("operator/users/<id:user_id>/approve/", views.operator_user_approve,
         name="operator-user-approve"),
    path("operator/users/<id:user_id>/disable/", views.operator_user_disable,
         name="operator-user-disable"),
    path("operator/users/<id:user_id>/enable/", views.operator_user_enable,
         name="operator-user-enable"),
    path("operator/users/<id:user_id>/delete/", views.operator_user_delete,
         name="operator-user-delete"),
    path("operator/quarantine/", views.operator_quarantine, name="operator-quarantine"),
    path("operator/message/", views.operator_message, name="operator-message"),
    path("operator/stats/", views.operator_stats, name="operator-stats"),
    path("operator/live.json", views.operator_live, name="operator-live"),
    path("operator/stats.svg", views.operator_stats_svg, name="operator-stats-svg"),
    path("api/openapi.json", api.openapi_json, name="openapi"),
    path("api/", api.api_docs, name="api-docs"),
    path("api/v1/nodes", api.nodes, name="api-nodes"),
    path("api/v1/nodes/<id:node_id>", api.node, name="api-node"),
    path("api/v1/nodes/<id:node_id>/config", api.node_config_download,
         name="api-node-config"),
    path("api/v1/nodes/<id:node_id>/token", api.node_token, name="api-node-token"),
    path("api/v1/nodes/<id:node_id>/iso", isoview.node_iso, name="api-node-iso"),
    path("api/v1/nodes/<id:node_id>/iso.sha256", isoview.node_iso_checksum,
         name="api-node-iso-checksum"),
    path("api/v1/quarantine", api.quarantine, name="api-quarantine"),
    path("api/v1/node/csr", api.self_csr, name="api-self-csr"),
]
