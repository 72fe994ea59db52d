"""The OpenAPI 3 description of the JSON API, as data. A test keeps it in step with the
URLconf (every /api/ route described, nothing described that is not routed) and checks
real responses against its schemas; schemathesis fuzzes the service with it."""

from __future__ import annotations

from typing import Any

from haiku import __version__

_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": {"type": "string"}}}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


_NODE_ID = {"name": "node_id", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}}
_UNAUTH = _json("Error", "not logged in")
_NOT_FOUND = {"description": "no such node of yours",
              "content": {"text/html": {"schema": {"type": "string"}}}}

_NODE = {
    "type": "object",
    "required": ["id", "name", "kind", "enabled", "home_address", "home_prefix_length",
                 "home_agent_address", "mobile_network_prefixes", "keying",
                 "protect_all_traffic", "interface", "has_token"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["host", "router"]},
        "enabled": {"type": "boolean"},
        "home_address": {"type": "string", "format": "ipv6"},
        "home_prefix_length": {"type": "integer", "minimum": 0, "maximum": 128},
        "home_agent_address": {"type": "string", "format": "ipv6"},
        "mobile_network_prefixes": {"type": "array", "items": {"type": "string"}},
        "keying": {"type": "string", "enum": ["static", "certificate"]},
        "protect_all_traffic": {"type": "boolean"},
        "interface": {"type": "string"},
        "has_token": {"type": "boolean"},
    },
}

_CONFIG = {
    "type": "object",
    "required": ["node", "mip6d_conf", "keying", "files", "sysctl", "services"],
    "properties": {
        "node": {"$ref": "#/components/schemas/Node"},
        "mip6d_conf": {"type": "string",
                       "description": "the node's mip6d.conf (mip6d.conf(5) syntax)"},
        "keying": {
            "type": "object", "required": ["method"],
            "properties": {
                "method": {"type": "string", "enum": ["static", "certificate"]},
                "static_keys": {"type": "array", "items": {
                    "type": "object",
                    "required": ["direction", "spi", "reqid", "encryption", "key"],
                    "properties": {
                        "direction": {"type": "string", "enum": ["MnToHa", "HaToMn"]},
                        "spi": {"type": "integer"}, "reqid": {"type": "integer"},
                        "encryption": {"type": "string"},
                        "key": {"type": "string", "pattern": "^[0-9a-f]+$"}}}},
                "certificate_pem": {"type": "string"},
                "private_key_pem": {"type": "string"},
                "ca_certificate_pem": {"type": "string"},
                "swanctl_conf": {"type": "string", "description": "the node's swanctl.conf "
                                 "connection to the home agent (also in files)"},
            },
        },
        "files": {"type": "array", "description": "files the live image writes before "
                  "starting the services", "items": {
                      "type": "object", "required": ["path", "mode", "content"],
                      "properties": {"path": {"type": "string"},
                                     "mode": {"type": "string", "pattern": "^0[0-7]{3}$"},
                                     "content": {"type": "string"}}}},
        "sysctl": {"type": "object", "additionalProperties": {"type": "string"}},
        "services": {"type": "array", "items": {"type": "string"}},
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "HAiku home agent service",
        "version": __version__,
        "description": "Self-service Mobile IPv6 / NEMO home agent: a user's nodes, and "
                       "each node's own configuration for the live image's boot hook.",
    },
    "paths": {
        "/api/v1/nodes": {"get": {
            "operationId": "listNodes", "summary": "The logged-in user's nodes.",
            "security": [{"session": []}],
            "responses": {"200": {"description": "the nodes", "content": {
                "application/json": {"schema": {
                    "type": "object", "required": ["nodes"], "properties": {
                        "nodes": {"type": "array",
                                  "items": {"$ref": "#/components/schemas/Node"}}}}}}},
                "401": _UNAUTH}}},
        "/api/v1/nodes/{node_id}": {"get": {
            "operationId": "getNode", "summary": "One of the user's nodes.",
            "security": [{"session": []}], "parameters": [_NODE_ID],
            "responses": {"200": _json("Node", "the node"), "401": _UNAUTH,
                          "404": _NOT_FOUND}}},
        "/api/v1/nodes/{node_id}/config": {"get": {
            "operationId": "downloadNodeConfig",
            "summary": "Download one of the user's nodes' configuration (as the node "
                       "would fetch it).",
            "security": [{"session": []}], "parameters": [_NODE_ID],
            "responses": {"200": _json("NodeConfig", "the configuration, as an attachment"),
                          "401": _UNAUTH, "404": _NOT_FOUND}}},
        "/api/v1/nodes/{node_id}/iso": {"get": {
            "operationId": "downloadNodeIso",
            "summary": "A preconfigured live ISO for the node: the base image with the "
                       "node's enrollment slot filled in (issues the node's image token), "
                       "streamed; Range and If-Range supported; its SHA-256 in "
                       "X-Checksum-SHA256 and the ETag.",
            "security": [{"session": []}], "parameters": [_NODE_ID],
            "responses": {"200": {"description": "the image",
                                  "content": {"application/x-iso9660-image": {}}},
                          "206": {"description": "the requested byte range",
                                  "content": {"application/x-iso9660-image": {}}},
                          "416": {"description": "the range starts past the end"},
                          "501": _json("Error", "no base image configured"),
                          "401": _UNAUTH, "404": _NOT_FOUND}}},
        "/api/v1/nodes/{node_id}/iso.sha256": {"get": {
            "operationId": "nodeIsoChecksum",
            "summary": "The SHA-256 of the node's preconfigured ISO (sha256sum format).",
            "security": [{"session": []}], "parameters": [_NODE_ID],
            "responses": {"200": {"description": "checksum and file name",
                                  "content": {"text/plain": {}}},
                          "501": _json("Error", "no base image configured"),
                          "401": _UNAUTH, "404": _NOT_FOUND}}},
        "/api/v1/node/config": {"get": {
            "operationId": "getOwnConfig",
            "summary": "The calling node's configuration (the live image's boot hook).",
            "security": [{"nodeToken": []}],
            "responses": {"200": _json("NodeConfig", "the configuration"),
                          "401": _json("Error", "no valid token, or the node or its "
                                       "owner is disabled")}}},
    },
    "components": {
        "schemas": {"Error": _ERROR, "Node": _NODE, "NodeConfig": _CONFIG},
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "sessionid",
                        "description": "the session of a logged-in user"},
            "nodeToken": {"type": "http", "scheme": "bearer",
                          "description": "the node's token, shown once when made"},
        },
    },
}


def summary() -> list[tuple[str, str, str]]:
    return [(method.upper(), path, op["summary"])
            for path, item in DOCUMENT["paths"].items() for method, op in item.items()]
