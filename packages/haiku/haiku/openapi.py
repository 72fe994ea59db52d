"""The OpenAPI 3 description of the JSON API, as data. A test keeps it in step with the
URLconf (every /api/ route described, nothing described that is not routed) and checks
real responses against its schemas; schemathesis fuzzes the service with it."""

from __future__ import annotations

from typing import Any

from haiku import __version__
from haiku.core import csr
from haiku.core.scopes import SCOPES, Scope

_ERROR = {"type": "object", "required": ["error"],
          "properties": {
              "error": {"type": "string", "description": "what went wrong, for a person"},
              "fields": {"type": "object", "description": "for a 400: each field at fault "
                         "and what to fix", "additionalProperties": {
                             "type": "array", "items": {"type": "string"}}},
              "missing_scope": {"type": "string", "description": "for a 403: the scope "
                                "the API token lacks"}}}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


def _security(scope: Scope) -> dict[str, Any]:
    """A session, or an API token with ``scope`` (``x-scope``; OpenAPI 3.0 lists scopes
    for OAuth2 schemes only)."""
    return {"security": [{"session": []}, {"apiToken": []}], "x-scope": scope.value}


def _body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{ref}"}}}}


_NODE_ID = {"name": "node_id", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}}
_UNAUTH = _json("Error", "not logged in, and no valid API token")
_NOT_FOUND = {"description": "no such node of yours",
              "content": {"text/html": {"schema": {"type": "string"}}}}
# JSON from the API's views; an id the URL does not take (out of range) gets Django's page.
_NO_NODE = {"description": "no such node of yours", "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
    "text/html": {"schema": {"type": "string"}}}}
_NO_SCOPE = _error("the API token lacks the operation's scope (named in missing_scope), "
                   "or a session's request lacks its CSRF token")
_BAD = _error("the body is not a JSON object, or fields are wrong (named in fields, with "
              "what to fix)")
_CONFLICT = _error("the name is taken by another of your nodes, or the pool is exhausted")
_DENIED = {"401": _UNAUTH, "403": _NO_SCOPE}
_NAME = {"type": "string", "minLength": 1, "maxLength": 64,
         "description": "printable characters, unique among the owner's nodes"}
_INTERFACE = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,15}$",
              "description": "the interface the node moves with"}
_KEY_ORIGIN = {"type": "string", "enum": ["service", "node"],
               "description": "where a certificate-keyed node's private key is made: by "
                              "the service (kept in its database, sent to the node), or "
                              "on the node (it never leaves it: the node sends a "
                              "certificate request to /api/v1/node/csr when it enrolls); "
                              "node needs keying certificate. Changing it revokes the "
                              "node's certificate (superseded)"}
_HOME_AGENT = {"type": "object", "required": ["ok", "message"],
               "description": "whether the home agent took the change (HAiku keeps it "
                              "either way; mip6d applies it when it next reloads)",
               "properties": {"ok": {"type": "boolean"}, "message": {"type": "string"}}}
_NODE_CREATE = {
    "type": "object", "additionalProperties": False, "required": ["name", "kind", "keying"],
    "description": "the web form's fields and rules",
    "properties": {
        "name": _NAME,
        "kind": {"type": "string", "enum": ["host", "router"]},
        "prefix_count": {"type": "integer", "minimum": 0, "maximum": 16, "default": 0,
                         "description": "mobile network prefixes: 0 for a host, 1 to 16 "
                                        "for a router"},
        "keying": {"type": "string", "enum": ["static", "certificate"]},
        "key_origin": {**_KEY_ORIGIN, "default": "service"},
        "protect_all_traffic": {"type": "boolean", "default": False},
        "interface": {**_INTERFACE, "default": "eth0"},
    },
    # A host has no prefixes; a router 1 to 16 (NodeForm.clean).
    "oneOf": [
        {"properties": {"kind": {"enum": ["host"]}, "prefix_count": {"enum": [0]}}},
        {"required": ["prefix_count"],
         "properties": {"kind": {"enum": ["router"]}, "prefix_count": {"minimum": 1}}},
    ],
}
_NODE_UPDATE = {
    "type": "object", "additionalProperties": False,
    "description": "the fields to change; the others stay",
    "properties": {"name": _NAME, "interface": _INTERFACE, "key_origin": _KEY_ORIGIN,
                   "enabled": {"type": "boolean", "description": "false: the home agent "
                               "stops accepting the node (nothing revoked, can be undone)"}},
}
_CSR = {
    "type": "object", "additionalProperties": False, "required": ["csr"],
    "properties": {"csr": {
        "type": "string", "maxLength": csr.MAX_PEM,
        "description": "a PKCS #10 certificate request in PEM (strongSwan's pki --req "
                       "--outform pem), signed by the node's key: "
                       + "; ".join(csr.ACCEPTED.values()) + ". Its subject and "
                       "subjectAltName are not used (the certificate names the node and "
                       "its home address); an address other than the home address is "
                       "refused"}},
}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_NODE_REF = {"$ref": "#/components/schemas/Node"}
_HA_REF = {"$ref": "#/components/schemas/HomeAgent"}
_TOKEN = {"type": "string", "description": "the node's enrollment token, shown only now"}
# What a client can do next with a node it created (OpenAPI links; schemathesis chains
# them in its stateful runs).
_CREATED_LINKS = {
    name: {"operationId": operation, "parameters": {"node_id": "$response.body#/node/id"}}
    for name, operation in (("GetNode", "getNode"), ("UpdateNode", "updateNode"),
                            ("DeleteNode", "deleteNode"), ("RotateToken", "rotateNodeToken"),
                            ("DownloadConfig", "downloadNodeConfig"))}

_NODE = {
    "type": "object",
    "required": ["id", "name", "kind", "enabled", "home_address", "home_prefix_length",
                 "home_agent_address", "mobile_network_prefixes", "keying",
                 "key_origin", "protect_all_traffic", "interface", "has_token"],
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
        "key_origin": {"type": "string", "enum": ["service", "node"]},
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
                "key_origin": {"type": "string", "enum": ["service", "node"],
                               "description": "for certificate keying: who made the key"},
                "certificate_pem": {"type": "string", "description": "the node's "
                                    "certificate; empty for a node that makes its own key "
                                    "until it has sent a certificate request"},
                "private_key_pem": {"type": "string", "description": "the key the "
                                    "service made (key_origin service only)"},
                "private_key_path": {"type": "string", "description": "key_origin node: "
                                     "where the node keeps its own key (mode 0600)"},
                "csr_url": {"type": "string", "description": "key_origin node: where the "
                            "node POSTs its certificate request (path on this service)"},
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
        "/api/v1/nodes": {
            "get": {
                "operationId": "listNodes",
                "summary": "The caller's nodes (every user's with operator:nodes).",
                **_security(Scope.NODES_READ),
                "responses": {"200": {"description": "the nodes", "content": {
                    "application/json": {"schema": _object(
                        ["nodes"], nodes={"type": "array", "items": _NODE_REF})}}},
                    **_DENIED}},
            "post": {
                "operationId": "createNode",
                "summary": "Create a node: home address and prefixes allocated, keys made, "
                           "the home agent told; its enrollment token is in the answer.",
                **_security(Scope.NODES_WRITE), "requestBody": _body("NodeCreate"),
                "responses": {"201": {"description": "the node, its token, the home "
                                      "agent's answer", "content": {"application/json": {
                                          "schema": _object(
                                              ["node", "token", "home_agent"],
                                              node=_NODE_REF, token=_TOKEN,
                                              home_agent=_HA_REF)}},
                                      "links": _CREATED_LINKS},
                              "400": _BAD, **_DENIED, "409": _CONFLICT}}},
        "/api/v1/nodes/{node_id}": {
            "get": {
                "operationId": "getNode", "summary": "One of the caller's nodes.",
                **_security(Scope.NODES_READ), "parameters": [_NODE_ID],
                "responses": {"200": _json("Node", "the node"), **_DENIED,
                              "404": _NO_NODE}},
            "patch": {
                "operationId": "updateNode",
                "summary": "Rename a node, change its interface, disable or enable it.",
                **_security(Scope.NODES_WRITE), "parameters": [_NODE_ID],
                "requestBody": _body("NodeUpdate"),
                "responses": {"200": {"description": "the node as it is now", "content": {
                    "application/json": {"schema": _object(
                        ["node", "home_agent"], node=_NODE_REF, home_agent=_HA_REF)}}},
                              "400": _BAD, **_DENIED, "404": _NO_NODE, "409": _CONFLICT}},
            "delete": {
                "operationId": "deleteNode",
                "summary": "Delete a node: its certificate revoked, its addresses "
                           "quarantined for the CRL lifetime, the home agent told.",
                **_security(Scope.NODES_WRITE), "parameters": [_NODE_ID],
                "responses": {"200": {"description": "deleted", "content": {
                    "application/json": {"schema": _object(
                        ["deleted", "home_agent"], deleted={"type": "integer"},
                        home_agent=_HA_REF)}}},
                              **_DENIED, "404": _NO_NODE}}},
        "/api/v1/nodes/{node_id}/token": {"post": {
            "operationId": "rotateNodeToken",
            "summary": "A new enrollment token for the node; the old one stops working.",
            **_security(Scope.TOKENS_ROTATE), "parameters": [_NODE_ID],
            "responses": {"200": {"description": "the new token", "content": {
                "application/json": {"schema": _object(
                    ["node", "token"], node={"type": "integer"}, token=_TOKEN)}}},
                          **_DENIED, "404": _NO_NODE}}},
        "/api/v1/nodes/{node_id}/config": {"get": {
            "operationId": "downloadNodeConfig",
            "summary": "Download one of the caller's nodes' configuration (as the node "
                       "would fetch it).",
            **_security(Scope.NODES_READ), "parameters": [_NODE_ID],
            "responses": {"200": _json("NodeConfig", "the configuration, as an attachment"),
                          **_DENIED, "404": _NO_NODE}}},
        "/api/v1/nodes/{node_id}/iso": {"get": {
            "operationId": "downloadNodeIso",
            "summary": "A preconfigured live ISO for the node: the base image with the "
                       "node's enrollment slot filled in (issues the node's image token), "
                       "streamed; Range and If-Range supported; its SHA-256 in "
                       "X-Checksum-SHA256 and the ETag.",
            **_security(Scope.NODES_READ), "parameters": [_NODE_ID],
            "responses": {"200": {"description": "the image",
                                  "content": {"application/x-iso9660-image": {}}},
                          "206": {"description": "the requested byte range",
                                  "content": {"application/x-iso9660-image": {}}},
                          "416": {"description": "the range starts past the end"},
                          "501": _json("Error", "no base image configured"),
                          **_DENIED, "404": _NOT_FOUND}}},
        "/api/v1/nodes/{node_id}/iso.sha256": {"get": {
            "operationId": "nodeIsoChecksum",
            "summary": "The SHA-256 of the node's preconfigured ISO (sha256sum format).",
            **_security(Scope.NODES_READ), "parameters": [_NODE_ID],
            "responses": {"200": {"description": "checksum and file name",
                                  "content": {"text/plain": {}}},
                          "501": _json("Error", "no base image configured"),
                          **_DENIED, "404": _NOT_FOUND}}},
        "/api/v1/quarantine": {"get": {
            "operationId": "listQuarantine",
            "summary": "Deleted nodes' home addresses and prefixes not handed out again "
                       "yet (for the CRL lifetime after the deletion).",
            **_security(Scope.OPERATOR_NODES),
            "responses": {"200": {"description": "what is held, and until when", "content": {
                "application/json": {"schema": _object(["quarantined"], quarantined={
                    "type": "array", "items": _object(
                        ["pool", "value", "former_node", "until"],
                        pool={"type": "string", "enum": ["home", "mnp"]},
                        value={"type": "string"},
                        former_node={"type": "string", "description": "owner/name"},
                        until={"type": "string", "format": "date-time"})})}}},
                **_DENIED}}},
        "/api/v1/node/config": {"get": {
            "operationId": "getOwnConfig",
            "summary": "The calling node's configuration (the live image's boot hook); "
                       "its ETag, and 304 for If-None-Match of the current one.",
            "security": [{"nodeToken": []}],
            "parameters": [{"name": "If-None-Match", "in": "header", "required": False,
                            "schema": {"type": "string"},
                            "description": "the ETag of a configuration the node has"}],
            "responses": {"200": _json("NodeConfig", "the configuration"),
                          "304": {"description": "unchanged since that ETag"},
                          "401": _json("Error", "no valid token, or the node or its "
                                       "owner is disabled")}}},
        "/api/v1/node/csr": {"post": {
            "operationId": "requestOwnCertificate",
            "summary": "A node that makes its own key (key_origin node) sends its "
                       "certificate request; the CA certifies its key for the node's name "
                       "and home address and revokes the certificate it had (superseded).",
            "security": [{"nodeToken": []}], "requestBody": _body("CertificateRequest"),
            "responses": {"200": _json("NodeConfig", "the configuration, with the new "
                                       "certificate"),
                          "400": _error("the body is not {\"csr\": PEM}, or the request "
                                        "is refused: unreadable, its signature does not "
                                        "verify, or its key is of a type or size the CA "
                                        "does not certify (fields.csr says which)"),
                          "401": _json("Error", "no valid token, or the node or its "
                                       "owner is disabled"),
                          "403": _error("the request asks for another node's address"),
                          "409": _error("the node does not make its own key, the key was "
                                        "revoked as compromised, or another node's "
                                        "certificate has this key")}}},
    },
    "components": {
        "schemas": {"Error": _ERROR, "Node": _NODE, "NodeConfig": _CONFIG,
                    "NodeCreate": _NODE_CREATE, "NodeUpdate": _NODE_UPDATE,
                    "CertificateRequest": _CSR, "HomeAgent": _HOME_AGENT},
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "sessionid",
                        "description": "the session of a logged-in user"},
            "nodeToken": {"type": "http", "scheme": "bearer",
                          "description": "the node's token, shown once when made"},
            "apiToken": {"type": "http", "scheme": "bearer", "description": (
                "a user's API token (hga_...), made on the API tokens page and shown once; "
                "each operation names the scope it needs in x-scope. Scopes: " + "; ".join(
                    f"{s.value}: {info.description}"
                    + (" (operators only)" if info.operator_only else "")
                    for s, info in SCOPES.items()))},
        },
    },
}


def summary() -> list[tuple[str, str, str]]:
    return [(method.upper(), path, op["summary"])
            for path, item in DOCUMENT["paths"].items() for method, op in item.items()]
