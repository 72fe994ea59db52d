"""HAiku: the self-service home agent service of Homeguy (Django project and app)."""

__version__ = "0.1.0"
