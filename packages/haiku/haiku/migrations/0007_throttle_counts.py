# The log-in failures' table counts every throttled kind (haiku/throttle.py): its keys are
# "kind:subject" from now on; the old rows (bare names) are dropped, locks of at most
# 15 minutes.

from typing import Any

from django.db import migrations


def _drop_bare_keys(apps: Any, schema_editor: Any) -> None:
    apps.get_model("haiku", "ThrottleCount").objects.exclude(key__contains=":").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("haiku", "0006_homeagent_samples"),
    ]

    operations = [
        migrations.RenameModel("LoginFailures", "ThrottleCount"),
        migrations.RunPython(_drop_bare_keys, migrations.RunPython.noop),
    ]
