"""For the PostgreSQL test: the node configuration endpoint's answers (one raw query, the
cache) against the ORM's rendering, on the database of HAIKU_DATABASE_URL, before and
after changes. Prints one JSON line: the cases that differed (none when all is well).

    python3 -m tests.selfconfig_compare
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "haiku.settings")

import django

django.setup()

from haiku import nodes, selfconfig  # noqa: E402
from haiku.core.render import Keying, NodeKind  # noqa: E402
from haiku.models import MobileNetworkPrefix, Node, User  # noqa: E402
from haiku.nodes import NodeRequest, create_node, rotate_token  # noqa: E402
from haiku.payload import node_config  # noqa: E402


def main() -> None:
    owner = User.objects.create_user("compare", "compare@example.org", "correct horse 1")
    made = [create_node(owner, NodeRequest("mr", NodeKind.ROUTER, 2, Keying.STATIC, True)),
            create_node(owner, NodeRequest("ike", NodeKind.ROUTER, 1, Keying.CERTIFICATE)),
            create_node(owner, NodeRequest("mh", NodeKind.HOST, 0, Keying.STATIC))]
    differed: list[str] = []

    def check(case: str, node: Node, token: str) -> None:
        found = selfconfig.answer(token)
        fresh = node_config(Node.objects.select_related("owner").get(pk=node.pk))
        if found is None or not found.active or json.loads(found.body) != fresh:
            differed.append(f"{case}: {node.name}")

    for node in made:
        token = rotate_token(node)
        check("first", node, token)
        check("cached", node, token)
        nodes.update_node(node, f"{node.name}-renamed", "wlan0")
        check("renamed", node, token)
        if node.kind == NodeKind.ROUTER.value:
            MobileNetworkPrefix.objects.create(node=node, index=900 + node.pk,
                                               prefix=f"2001:db8:100:{900 + node.pk:x}::/64")
            check("prefix added", node, token)
        if node.keying == Keying.CERTIFICATE.value:
            nodes.renew_certificate(node)
            check("new certificate", node, token)
        User.objects.filter(pk=owner.pk).update(is_active=False)
        found = selfconfig.answer(token)
        if found is None or found.active:
            differed.append(f"owner disabled: {node.name}")
        User.objects.filter(pk=owner.pk).update(is_active=True)
        check("owner enabled", node, token)
    print(json.dumps({"differed": differed, "checked": len(made)}))


if __name__ == "__main__":
    main()
