"""The WSGI application (gunicorn haiku.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "haiku.settings")
application = get_wsgi_application()
