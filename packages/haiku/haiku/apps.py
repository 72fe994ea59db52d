from django.apps import AppConfig


class HaikuConfig(AppConfig):
    name = "haiku"
    verbose_name = "HAiku home agent service"
    default_auto_field = "django.db.models.BigAutoField"
