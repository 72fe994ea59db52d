# Keys made on the node (certificate requests at enrollment): where a node's key is made,
# and the certified key's fingerprint (filled in for the certificates already issued;
# revoked certificates from now on, so that a key revoked as compromised is refused).

from typing import Any

from django.db import migrations, models


def _fingerprints(apps: Any, schema_editor: Any) -> None:
    from cryptography import x509  # noqa: PLC0415

    from haiku.core.csr import key_fingerprint  # noqa: PLC0415

    Node = apps.get_model("haiku", "Node")
    for node in Node.objects.exclude(certificate_pem=""):
        cert = x509.load_pem_x509_certificate(node.certificate_pem.encode())
        node.key_fingerprint = key_fingerprint(cert.public_key())
        node.save(update_fields=["key_fingerprint"])


class Migration(migrations.Migration):

    dependencies = [
        ("haiku", "0007_throttle_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="node",
            name="key_origin",
            field=models.CharField(choices=[("service", "service"), ("node", "node")],
                                   default="service", max_length=8),
        ),
        migrations.AddField(
            model_name="node",
            name="key_fingerprint",
            field=models.CharField(blank=True, db_index=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="revokedcertificate",
            name="key_fingerprint",
            field=models.CharField(blank=True, db_index=True, default="", max_length=64),
        ),
        migrations.RunPython(_fingerprints, migrations.RunPython.noop),
    ]
