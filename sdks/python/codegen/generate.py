#!/usr/bin/env python3
"""Generates the typed half of the Python SDK from the contract.

    python codegen/generate.py          # writes the two files below
    python codegen/generate.py --check  # exits 1 if they differ from what it would write

Reads ``docs/openapi.json`` (the server's own document) and writes

* ``src/latchkey/types.py``: a pydantic model per object schema, a
  ``Literal`` per enum, ``TypedDict`` parameters for the objects a request
  carries, and ``SCHEMAS``, every schema name of the document mapped to its
  Python type (``Data_ApiKeyView`` → ``Data[ApiKeyView]``);
* ``src/latchkey/_resources.py``: one method per operation, on the
  resource ``OPERATIONS`` names, once blocking and once ``async``.

Only the standard library is used, and the output depends on the document
alone, so regenerating an unchanged document changes nothing (the test
suite checks it). An operation the table below does not name stops the
generator: every operation gets a method, and a person chooses its name.
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
SDK = HERE.parent
DOCUMENT = SDK.parent.parent / "docs" / "openapi.json"
TYPES_OUT = SDK / "src" / "latchkey" / "types.py"
RESOURCES_OUT = SDK / "src" / "latchkey" / "_resources.py"

# operationId → the argument holding a body that is a JSON array (the
# others' bodies are objects, one argument per field).
ARRAY_BODIES: Dict[str, str] = {"importApiKeys": "keys"}

# operationId → (resource path on the client, method name). The resource
# path is dotted for nested resources; "" is a method of the client itself.
# The names are the TypeScript SDK's (sdks/typescript/src/operations.ts), in
# snake_case.
OPERATIONS: Dict[str, Tuple[str, str]] = {
    # keys
    "listApiKeys": ("keys", "list"),
    "createApiKey": ("keys", "create"),
    "createApiKeys": ("keys", "create_batch"),
    "importApiKeys": ("keys", "import_hashes"),
    "exportApiKeys": ("keys", "export"),
    "getApiKey": ("keys", "get"),
    "updateApiKey": ("keys", "update"),
    "deleteApiKey": ("keys", "delete"),
    "revokeApiKey": ("keys", "revoke"),
    "rotateApiKey": ("keys", "rotate"),
    "transferApiKey": ("keys", "transfer"),
    "reportApiKeyLeak": ("keys", "report_leak"),
    # secret scanners' reports
    "reportLeakedTokens": ("leaks", "report"),
    "getApiKeyUsage": ("keys", "usage"),
    "verifyKey": ("keys", "verify"),
    "explainKey": ("keys", "explain"),
    # who am I
    "getMe": ("", "me"),
    # organizations
    "listOrgs": ("orgs", "list"),
    "createOrg": ("orgs", "create"),
    "getOrg": ("orgs", "get"),
    "updateOrg": ("orgs", "update"),
    "getKeyPolicy": ("orgs", "get_key_policy"),
    "putKeyPolicy": ("orgs", "put_key_policy"),
    "switchOrg": ("orgs", "switch"),
    "listMembers": ("members", "list"),
    "updateMember": ("members", "update"),
    "removeMember": ("members", "remove"),
    "listInvitations": ("invitations", "list"),
    "createInvitation": ("invitations", "create"),
    "acceptInvitation": ("invitations", "accept"),
    "acceptInvitationInPath": ("invitations", "accept_by_token"),
    "revokeInvitation": ("invitations", "revoke"),
    "listAuditEvents": ("audit_events", "list"),
    # projects
    "listProjects": ("projects", "list"),
    "createProject": ("projects", "create"),
    "getProject": ("projects", "get"),
    "updateProject": ("projects", "update"),
    "deleteProject": ("projects", "delete"),
    # people
    "signUp": ("auth", "signup"),
    "signUpInvited": ("auth", "signup_invited"),
    "logIn": ("auth", "login"),
    "logOut": ("auth", "logout"),
    "listSessions": ("sessions", "list"),
    "revokeSession": ("sessions", "revoke"),
    "listScopes": ("scopes", "list"),
    "listOidcProviders": ("auth", "oidc_providers"),
    "startOidcSignIn": ("auth", "oidc_start"),
    "finishOidcSignIn": ("auth", "oidc_callback"),
    "listMyIdentities": ("identities", "list"),
    "unlinkMyIdentity": ("identities", "unlink"),
    "exchangeCliCode": ("auth", "cli_token"),
    "startDeviceAuthorization": ("auth", "device_code"),
    "pollDeviceAuthorization": ("auth", "device_token"),
    # secrets and SSH keys
    "listSecrets": ("secrets", "list"),
    "getSecret": ("secrets", "get"),
    "putSecret": ("secrets", "set"),
    "revealSecret": ("secrets", "reveal"),
    "deleteSecret": ("secrets", "delete"),
    "resolveSecrets": ("secrets", "resolve"),
    "listSshKeys": ("ssh_keys", "list"),
    "createSshKey": ("ssh_keys", "create"),
    "deleteSshKey": ("ssh_keys", "delete"),
    "setDefaultSshKey": ("ssh_keys", "set_default"),
    "getAuthorizedKeys": ("ssh_keys", "authorized_keys"),
    # connected apps
    "listOAuthProviders": ("oauth", "providers"),
    "putOAuthProviderClient": ("oauth", "set_client"),
    "deleteOAuthProviderClient": ("oauth", "remove_client"),
    "startOAuthConnect": ("oauth", "connect"),
    "getOAuthConnect": ("oauth", "get_connect"),
    "authorizeOAuthConnect": ("oauth", "authorize_page"),
    "finishOAuthConnect": ("oauth", "callback"),
    "listOAuthConnections": ("oauth.connections", "list"),
    "deleteOAuthConnection": ("oauth.connections", "delete"),
    "setDefaultOAuthConnection": ("oauth.connections", "set_default"),
    "issueOAuthToken": ("oauth", "token"),
    # workspaces
    "listWorkspaces": ("workspaces", "list"),
    "createWorkspace": ("workspaces", "create"),
    "getWorkspace": ("workspaces", "get"),
    "updateWorkspace": ("workspaces", "update"),
    "deleteWorkspace": ("workspaces", "delete"),
    "decideWorkspaceMount": ("workspaces", "mount"),
    "getWorkspaceGrantKeys": ("workspaces", "grant_keys"),
    "presignWorkspaceObject": ("workspaces", "presign"),
    "listWorkspaceFiles": ("workspaces", "files"),
    # webhooks
    "listWebhooks": ("webhooks", "list"),
    "createWebhook": ("webhooks", "create"),
    "getWebhook": ("webhooks", "get"),
    "updateWebhook": ("webhooks", "update"),
    "deleteWebhook": ("webhooks", "delete"),
    "rotateWebhookSecret": ("webhooks", "rotate_secret"),
    "testWebhook": ("webhooks", "test"),
    "listWebhookDeliveries": ("webhooks", "deliveries"),
    "retryWebhookDelivery": ("webhooks", "retry"),
    "checkForwardedRequest": ("auth", "check"),
    "checkForwardedRequestPost": ("auth", "check_post"),
    # compatibility profiles
    "createAPIKey": ("runloop", "create_api_key"),
    "createRestrictedKey": ("runloop", "create_restricted_key"),
    "listProducts": ("products", "list"),
    "createProduct": ("products", "create"),
    "getProduct": ("products", "get"),
    "listSurfaces": ("products.surfaces", "list"),
    "createSurface": ("products.surfaces", "create"),
    "getSurface": ("products.surfaces", "get"),
    "createSurfaceKey": ("products.surfaces", "create_key"),
    # the server itself
    "getHealth": ("system", "health"),
    "getReadiness": ("system", "readiness"),
    "getMetrics": ("system", "metrics"),
    "getOpenApiDocument": ("system", "openapi"),
    "getApiReference": ("system", "api_reference"),
    "getApiReferenceFile": ("system", "api_reference_file"),
}

# Resources with hand-written methods too: resource → (module, base class).
# The generated class inherits the base class, the async one "Async" + it
# (``oauth.wait_for_connect``, which polls the generated ``get_connect``).
HELPERS: Dict[str, Tuple[str, str]] = {
    "oauth": ("_oauth", "ConnectWaiter"),
    "workspaces": ("_grants", "MountGrants"),
}

# What each resource is about (the class docstring).
RESOURCE_DOCS: Dict[str, str] = {
    "keys": "API keys: mint, list, change, rotate, revoke, delete, and verify a presented key.",
    "orgs": "Organizations the caller belongs to.",
    "members": "Members of the caller's organization.",
    "invitations": "Invitations into the caller's organization.",
    "audit_events": "The organization's audit trail (admins).",
    "projects": "Projects of the caller's organization.",
    "auth": "Sign-up, login and logout (session tokens for people), and forward auth for reverse proxies (nginx `auth_request`, Traefik, Caddy, Envoy).",
    "sessions": "The signed-in person's sessions.",
    "scopes": "The scope catalog.",
    "identities": "The identities at identity providers linked to the signed-in person's account.",
    "secrets": "Encrypted secrets, the caller's own or organization-wide.",
    "ssh_keys": "SSH public keys, and the `authorized_keys` text for OpenSSH.",
    "oauth": "Connected apps: the providers people may connect, organizations' client credentials, connecting an account and waiting for it, and fresh access tokens for the platform's tools.",
    "oauth.connections": "Connected apps' connections: the caller's own and the organization's shared ones.",
    "workspaces": "Workspaces: the organization's and its members' storage spaces, the decision whether a sandbox may mount one (with a signed grant, `verify_grant` checks it offline), presigned URLs for their files.",
    "runloop": "The Runloop compatibility profile (`ak_`/`rk_` keys).",
    "products": "The Runtype compatibility profile: products.",
    "products.surfaces": "The Runtype compatibility profile: a product's surfaces and their keys.",
    "system": "The server itself: liveness, readiness, metrics, the OpenAPI document and its viewer.",
}

# Fields whose values are secrets: kept out of the models' repr().
SECRET_FIELDS = {"key", "key_secret", "token", "value", "password"}

# Names a pydantic field may not take.
_RESERVED = {"copy", "dict", "json", "schema", "validate", "construct", "fields", "register"}

ENVELOPES = ("Data_Vec_", "Data_", "Paged_", "Shown_Vec_", "Shown_")


def snake(name: str) -> str:
    """camelCase (or a header name) as snake_case."""
    name = name.replace("-", "_")
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return name.lower()


def field_name(wire: str) -> str:
    name = snake(wire)
    if keyword.iskeyword(name) or name in _RESERVED:
        name += "_"
    return name


def docstring(text: Optional[str], indent: str) -> List[str]:
    """``text`` as a docstring's lines at ``indent``."""
    if not text:
        return []
    text = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = text.split("\n")
    if text.endswith('"'):
        lines[-1] += " "
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    out = [f'{indent}"""{lines[0]}']
    out += [f"{indent}{line}" if line else "" for line in lines[1:]]
    out.append(f'{indent}"""')
    return out


def description(s: Dict[str, Any]) -> Optional[str]:
    """A property's description, also where it sits on the one variant of a
    ``oneOf`` (``{"oneOf": [{"type": "null"}, {"$ref": …, "description": …}]}``)."""
    if s.get("description"):
        return str(s["description"])
    for v in s.get("oneOf", []):
        if v.get("description"):
            return str(v["description"])
    return None


def ref_name(ref: str) -> str:
    prefix = "#/components/schemas/"
    if not ref.startswith(prefix):
        raise SystemExit(f"unsupported $ref {ref}")
    return ref[len(prefix):]


class Generator:
    def __init__(self, doc: Dict[str, Any]) -> None:
        self.doc = doc
        self.schemas: Dict[str, Any] = doc["components"]["schemas"]
        # Object schemas a request carries inside its body: TypedDict params.
        self.param_dicts: Dict[str, str] = {}

    # -- schemas -----------------------------------------------------------

    def kind(self, name: str) -> str:
        s = self.schemas[name]
        if name.startswith(ENVELOPES):
            return "envelope"
        if "enum" in s:
            return "enum"
        if s.get("type") == "string":
            return "string"
        if s.get("type") == "object" or "allOf" in s:
            return "object"
        raise SystemExit(f"schema {name}: unsupported shape")

    def model_type(self, s: Dict[str, Any]) -> str:
        """The type of a model field for schema ``s``."""
        if "$ref" in s:
            return ref_name(s["$ref"])
        if "oneOf" in s:
            variants = s["oneOf"]
            nullable = any(v.get("type") == "null" for v in variants)
            rest = [v for v in variants if v.get("type") != "null"]
            if len(rest) != 1:
                raise SystemExit(f"unsupported oneOf {s}")
            inner = self.model_type(rest[0])
            return f"Optional[{inner}]" if nullable else inner
        t = s.get("type")
        if t is None:
            return "Any"
        if isinstance(t, list):
            rest = [x for x in t if x != "null"]
            if len(rest) != 1:
                raise SystemExit(f"unsupported type {t}")
            inner = self.model_type({**s, "type": rest[0]})
            return f"Optional[{inner}]" if "null" in t else inner
        if t == "string":
            return "str"
        if t == "integer":
            return "int"
        if t == "number":
            return "float"
        if t == "boolean":
            return "bool"
        if t == "array":
            return f"List[{self.model_type(s.get('items', {}))}]"
        if t == "object":
            extra = s.get("additionalProperties")
            if isinstance(extra, dict):
                return f"Dict[str, {self.model_type(extra)}]"
            if "properties" in s:
                raise SystemExit(f"unsupported inline object {s}")
            return "Dict[str, Any]"
        raise SystemExit(f"unsupported type {t}")

    def param_types(self, s: Dict[str, Any]) -> List[str]:
        """The members of the union a method argument for ``s`` accepts."""
        if "$ref" in s:
            name = ref_name(s["$ref"])
            if self.kind(name) == "object":
                self.param_dicts[name] = f"{name}Param"
                return [name, f"{name}Param"]
            return [name]
        if "oneOf" in s:
            out: List[str] = []
            for v in s["oneOf"]:
                out += ["None"] if v.get("type") == "null" else self.param_types(v)
            return out
        t = s.get("type")
        if isinstance(t, list):
            out = []
            for x in t:
                out += ["None"] if x == "null" else self.param_types({**s, "type": x})
            return out
        if t == "string" and s.get("format") == "date-time":
            return ["str", "datetime.datetime"]
        if t == "array":
            inner = self.param_types(s.get("items", {}))
            item = inner[0] if len(inner) == 1 else f"Union[{', '.join(inner)}]"
            return [f"Sequence[{item}]"]
        return [self.model_type(s)]

    def object_fields(self, name: str) -> List[Tuple[str, Dict[str, Any], bool]]:
        s = self.schemas[name]
        required = set(s.get("required", []))
        return [(wire, prop, wire in required) for wire, prop in s.get("properties", {}).items()]

    def deps(self, name: str) -> List[str]:
        out: List[str] = []

        def walk(x: Any) -> None:
            if isinstance(x, dict):
                if "$ref" in x:
                    out.append(ref_name(x["$ref"]))
                for v in x.values():
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)

        walk(self.schemas[name])
        return out

    def ordered(self) -> List[str]:
        """Schema names, each after those it refers to."""
        seen: Dict[str, bool] = {}
        order: List[str] = []

        def visit(n: str) -> None:
            if n in seen:
                if not seen[n]:
                    raise SystemExit(f"recursive schema {n}")
                return
            seen[n] = False
            for d in self.deps(n):
                visit(d)
            seen[n] = True
            order.append(n)

        for n in sorted(self.schemas):
            if not n.startswith(ENVELOPES):
                visit(n)
        return order

    def envelope_type(self, name: str) -> str:
        """``Data[X]`` for ``Data_X``, after checking the envelope's inline
        copy of ``X`` is ``X``."""
        s = self.schemas[name]
        prefixes = (
            ("Data_Vec_", "Data"),
            ("Data_", "Data"),
            ("Paged_", "Paged"),
            ("Shown_Vec_", "Shown"),
            ("Shown_", "Shown"),
        )
        for prefix, generic in prefixes:
            if name.startswith(prefix):
                inner = name[len(prefix):]
                data = s["properties"]["data"]
                listed = prefix in ("Data_Vec_", "Paged_", "Shown_Vec_")
                copy = data.get("items") if listed else data
                if inner not in self.schemas or copy != self.schemas[inner]:
                    raise SystemExit(f"envelope {name} does not hold {inner}")
                if prefix.endswith("_Vec_"):
                    return f"{generic}[List[{inner}]]"
                return f"{generic}[{inner}]"
        raise SystemExit(f"not an envelope: {name}")

    def emit_object(self, name: str) -> List[str]:
        s = self.schemas[name]
        base = "LatchkeyModel"
        fields = self.object_fields(name)
        if "allOf" in s:
            parts = s["allOf"]
            if len(parts) != 2 or "$ref" not in parts[0]:
                raise SystemExit(f"unsupported allOf in {name}")
            base = ref_name(parts[0]["$ref"])
            required = set(parts[1].get("required", []))
            fields = [(w, p, w in required) for w, p in parts[1]["properties"].items()]
        lines = [f"class {name}({base}):"]
        lines += docstring(s.get("description"), "    ") or [f'    """{name}."""']
        for wire, prop, required in fields:
            py = field_name(wire)
            tp = self.model_type(prop)
            args: List[str] = []
            if not required:
                if not tp.startswith("Optional[") and tp != "Any":
                    tp = f"Optional[{tp}]"
                args.append("default=None")
            if py != wire:
                args.append(f'alias="{wire}"')
            if py in SECRET_FIELDS:
                args.append("repr=False")
            value = f" = Field({', '.join(args)})" if args else ""
            lines.append("")
            lines.append(f"    {py}: {tp}{value}")
            lines += docstring(description(prop), "    ")
        return lines

    def emit_param_dict(self, name: str) -> List[str]:
        s = self.schemas[name]
        required = set(s.get("required", []))
        total = bool(required) and required == set(s.get("properties", {}))
        # Some keys required: the others optional (total=False), the
        # required ones marked Required[...].
        partial = bool(required) and not total
        head = f"class {name}Param(TypedDict{'' if total else ', total=False'}):"
        lines = [head]
        lines += docstring(f"{name} as a request carries it (keys as on the wire).", "    ")
        for wire, prop, _ in self.object_fields(name):
            tp = self.model_type(prop)
            if partial and wire in required:
                tp = f"Required[{tp}]"
            lines.append("")
            lines.append(f"    {wire}: {tp}")
            lines += docstring(description(prop), "    ")
        return lines

    def types_module(self) -> str:
        # The resources module decides which request objects need params.
        for op in self.operations():
            self.op_arguments(op)
        out = [
            '"""The contract\'s schemas as Python types. Generated by codegen/generate.py',
            "from docs/openapi.json: do not edit.\"\"\"",
            "",
            "from __future__ import annotations",
            "",
            "from typing import Any, Dict, List, Optional",
            "",
            "from pydantic import Field",
            "from typing_extensions import Literal, TypedDict",
            "",
            "from ._forward import ForwardedIdentity",
            "from ._models import Data, LatchkeyModel, Paged, Shown",
            "",
        ]
        names: List[str] = []
        for name in self.ordered():
            kind = self.kind(name)
            s = self.schemas[name]
            out += ["", ""]
            if kind == "enum":
                values = ", ".join(json.dumps(v) for v in s["enum"])
                out.append(f"{name} = Literal[{values}]")
                out += docstring(s.get("description"), "")
            elif kind == "string":
                out.append(f"{name} = str")
                desc = s.get("description", "")
                out += docstring(desc, "")
            else:
                out += self.emit_object(name)
            names.append(name)
        for name in sorted(self.param_dicts):
            out.append("")
            out.append("")
            out += self.emit_param_dict(name)
        out.append("")
        out.append("")
        out.append("SCHEMAS: Dict[str, Any] = {")
        for name in sorted(self.schemas):
            tp = self.envelope_type(name) if name.startswith(ENVELOPES) else name
            out.append(f'    "{name}": {tp},')
        out.append("}")
        out.append('"""Every schema of the document, by its name there, as the Python type that reads it."""')
        out.append("")
        if any("Required[" in line for line in out):
            at = out.index("from typing_extensions import Literal, TypedDict")
            out[at] = "from typing_extensions import Literal, Required, TypedDict"
        exported = sorted(names + [f"{n}Param" for n in self.param_dicts] + ["ForwardedIdentity", "SCHEMAS"])
        out.append("__all__ = [")
        out += [f'    "{n}",' for n in exported]
        out.append("]")
        return "\n".join(out) + "\n"

    # -- operations --------------------------------------------------------

    def operations(self) -> List[Dict[str, Any]]:
        ops: List[Dict[str, Any]] = []
        for path, item in self.doc["paths"].items():
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                oid = op["operationId"]
                if oid not in OPERATIONS:
                    raise SystemExit(
                        f"operation {oid} ({method.upper()} {path}) has no method: name it in OPERATIONS"
                    )
                resource, name = OPERATIONS[oid]
                ops.append({"id": oid, "path": path, "method": method.upper(), "op": op, "resource": resource, "name": name})
        unknown = set(OPERATIONS) - {o["id"] for o in ops}
        if unknown:
            raise SystemExit(f"OPERATIONS names operations the document lacks: {sorted(unknown)}")
        return ops

    def returns(self, o: Dict[str, Any]) -> Tuple[str, str, str]:
        """(kind, parse expression, return type) of an operation."""
        if o["id"] in ("checkForwardedRequest", "checkForwardedRequestPost"):
            return ("value", "_forward.forwarded_identity", "ForwardedIdentity")
        if o["id"] == "reportLeakedTokens":
            return ("value", "_response.model(List[LeakLabel])", "List[LeakLabel]")
        responses = o["op"]["responses"]
        ok = [c for c in responses if c.startswith("2")]
        contents = [responses[c].get("content", {}) for c in ok]
        if all(not c for c in contents):
            return ("value", "_response.nothing", "None")
        content = contents[0]
        if any(c != content for c in contents[1:]):
            raise SystemExit(f"{o['id']}: its 2xx answers differ in shape")
        if "application/json" in content and len(content) == 1:
            schema = content["application/json"]["schema"]
            if "$ref" not in schema:
                if schema.get("type") == "object":
                    return ("value", "_response.json_object", "Dict[str, Any]")
                raise SystemExit(f"{o['id']}: unsupported answer {schema}")
            name = ref_name(schema["$ref"])
            if name.startswith("Paged_"):
                return ("page", name[len("Paged_"):], name[len("Paged_"):])
            if name.startswith("Data_Vec_"):
                inner = name[len("Data_Vec_"):]
                return ("value", f"_response.data_list({inner})", f"List[{inner}]")
            if name.startswith("Data_"):
                inner = name[len("Data_"):]
                return ("value", f"_response.data({inner})", inner)
            if name.startswith("Shown_Vec_"):
                inner = name[len("Shown_Vec_"):]
                return ("value", f"_response.shown_list({inner})", f"List[{inner}]")
            if name.startswith("Shown_"):
                inner = name[len("Shown_"):]
                return ("value", f"_response.shown({inner})", inner)
            return ("value", f"_response.model({name})", name)
        if set(content) == {"application/x-ndjson"}:
            name = ref_name(content["application/x-ndjson"]["schema"]["$ref"])
            return ("value", f"_response.json_lines({name})", f"List[{name}]")
        if set(content) <= {"text/plain", "text/html"}:
            return ("value", "_response.text", "str")
        return ("value", "_response.raw", "bytes")

    def op_arguments(self, o: Dict[str, Any]) -> Dict[str, Any]:
        """Positional path arguments, keyword arguments, and where each goes."""
        op = o["op"]
        path_args: List[Tuple[str, str]] = []  # (python, wire)
        kw: List[Tuple[str, List[str], bool, str, str, Optional[str]]] = []  # python, types, required, wire, where, doc
        for p in op.get("parameters", []):
            where = p["in"]
            wire = p["name"]
            if where == "path":
                path_args.append((field_name(wire), wire))
                continue
            if where == "header":
                py = field_name(re.sub(r"^x-(latchkey-)?", "", wire))
            elif where == "query":
                py = field_name(wire)
            else:
                raise SystemExit(f"{o['id']}: parameter in {where}")
            kw.append((py, self.param_types(p["schema"]), bool(p.get("required")), wire, where, p.get("description")))
        body = op.get("requestBody")
        body_required = False
        if o["id"] == "reportLeakedTokens":
            # The signature covers the body's bytes: they are sent as given.
            kw.append(("report", ["bytes"], True, "report", "raw",
                       "The JSON array of `{token, type, url, source}`, exactly the bytes signed."))
            body = None
        if body and "$ref" not in body["content"]["application/json"]["schema"]:
            # A JSON array (`importApiKeys`): one argument, sent as the body.
            schema = body["content"]["application/json"]["schema"]
            items = ref_name(schema["items"]["$ref"])
            name = ARRAY_BODIES[o["id"]]
            kw.append((name, self.param_types(schema), True, name, "array",
                       f"The `{items}` objects the body's array holds."))
            body = None
        if body:
            body_required = bool(body.get("required"))
            schema = body["content"]["application/json"]["schema"]
            name = ref_name(schema["$ref"])
            for wire, prop, required in self.object_fields(name):
                kw.append((field_name(wire), self.param_types(prop), required, wire, "body", description(prop)))
        if o["id"] == "getMetrics":
            kw.append(("metrics_token", ["str", "None"], False, "Authorization", "metrics_token",
                       "The server's `metrics_token`, when it has one (sent as `Authorization: Bearer`)."))
        names = [p for p, _ in path_args] + [k[0] for k in kw]
        if len(set(names)) != len(names) or {"extra_headers", "timeout"} & set(names):
            raise SystemExit(f"{o['id']}: two arguments share a name: {names}")
        # Path placeholders in order.
        order = re.findall(r"{([^}]+)}", o["path"])
        if order != [w for _, w in path_args]:
            path_args.sort(key=lambda a: order.index(a[1]))
        kw.sort(key=lambda k: not k[2])  # required first, otherwise in document order
        return {"path": path_args, "kw": kw, "has_body": bool(body), "body_required": body_required}

    def method_lines(self, o: Dict[str, Any], is_async: bool) -> List[str]:
        args = self.op_arguments(o)
        kind, parse, ret = self.returns(o)
        op = o["op"]
        auth = "security" in op
        sig = ["self"]
        sig += [f"{py}: str" for py, _ in args["path"]]
        sig.append("*")
        for py, types, required, _, _, _ in args["kw"]:
            members = list(dict.fromkeys(types))
            if required:
                tp = members[0] if len(members) == 1 else f"Union[{', '.join(members)}]"
                sig.append(f"{py}: {tp}")
            else:
                members.append("NotGiven")
                sig.append(f"{py}: Union[{', '.join(members)}] = NOT_GIVEN")
        sig.append("extra_headers: Optional[Mapping[str, str]] = None")
        sig.append("timeout: Union[Timeout, NotGiven] = NOT_GIVEN")
        if kind == "page":
            ret_type = f"{'AsyncPaginator' if is_async else 'SyncPage'}[{ret}]"
        else:
            ret_type = ret
        defn = "async def" if is_async and kind != "page" else "def"
        lines = [f'    @operation("{o["id"]}")', f"    {defn} {o['name']}("]
        lines += [f"        {s}," for s in sig]
        lines.append(f"    ) -> {ret_type}:")
        summary = op.get("summary") or o["id"]
        doc = summary
        arg_docs = [(py, d) for py, _, _, _, _, d in args["kw"] if d]
        if op.get("description"):
            pass  # server-side notes; the summary says what the caller needs
        if arg_docs:
            doc += "\n\nArgs:\n" + "\n".join(f"    {py}: {' '.join(d.split())}" for py, d in arg_docs)
        if kind == "page":
            doc += "\n\n" + ("`await` it for the first page, `async for` over it for every item."
                             if is_async else "Iterating the page yields every item of every page.")
        lines += docstring(doc, "        ")
        path = o["path"]
        for py, wire in args["path"]:
            path = path.replace("{" + wire + "}", "{_base.segment(" + py + ")}")
        path_expr = f'f"{path}"' if args["path"] else f'"{path}"'
        groups: Dict[str, List[str]] = {"query": [], "header": [], "body": []}
        for py, _, _, wire, where, _ in args["kw"]:
            if where in groups:
                groups[where].append(f'"{wire}": {py}')
        call: List[str] = []
        def mapping(entries: List[str]) -> str:
            one_line = f"{{{', '.join(entries)}}}"
            if len(one_line) <= 60:
                return one_line
            inner = "".join(f"\n                {e}," for e in entries)
            return f"{{{inner}\n            }}"

        if groups["query"]:
            call.append(f"query=_base.query({mapping(groups['query'])})")
        headers = f"_base.headers({mapping(groups['header'])})" if groups["header"] else None
        if o["id"] == "getMetrics":
            headers = '_base.headers({"Authorization": f"Bearer {metrics_token}" if metrics_token else None})'
        if headers:
            call.append(f"headers={headers}")
        raw = [py for py, _, _, _, where, _ in args["kw"] if where == "raw"]
        if raw:
            call.append(f"body={raw[0]}")
        array = [py for py, _, _, _, where, _ in args["kw"] if where == "array"]
        if array:
            call.append(f"body=_base.json_value(list({array[0]}))")
        if args["has_body"]:
            fields = mapping(groups["body"])
            call.append(f"body=_base.body({fields})" if args["body_required"] else f"body=_base.body({fields}) or None")
        if not auth:
            call.append("auth=False")
        call.append("options=RequestOptions(extra_headers, timeout)")
        client = "self._client"
        if kind == "page":
            lines.append(f"        return {client}._paginate(")
            lines.append(f"            {path_expr},")
            if not groups["query"]:
                call.insert(0, "query={}")
            lines += [f"            {c}," for c in call]
            lines.append(f"            item={ret},")
            lines.append("        )")
            return lines
        aw = "await " if is_async else ""
        lines.append(f"        return {aw}{client}._request(")
        lines.append(f'            "{o["method"]}",')
        lines.append(f"            {path_expr},")
        lines.append(f"            parse={parse},")
        lines += [f"            {c}," for c in call]
        lines.append("        )")
        return lines

    def resources_module(self) -> str:
        ops = self.operations()
        by_resource: Dict[str, List[Dict[str, Any]]] = {}
        for o in ops:
            by_resource.setdefault(o["resource"], []).append(o)
        resources = sorted(r for r in by_resource if r)
        # Parents of nested resources exist even without operations of their own.
        for r in list(resources):
            parts = r.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent not in by_resource:
                    by_resource[parent] = []
                    resources.append(parent)
        resources = sorted(set(resources))
        used_types = set()
        for o in ops:
            _, _, ret = self.returns(o)
            used_types.update(re.findall(r"[A-Z][A-Za-z0-9]+", ret))
            for _, types, _, _, _, _ in self.op_arguments(o)["kw"]:
                for t in types:
                    used_types.update(re.findall(r"[A-Z][A-Za-z0-9]+", t))
        typing_names = {"Any", "Dict", "List", "Optional", "Union", "Sequence", "Mapping", "None", "NotGiven"}
        model_names = sorted(t for t in used_types if t not in typing_names and t != "ForwardedIdentity")
        out = [
            '"""The operations of the contract, one method each, blocking and async.',
            'Generated by codegen/generate.py from docs/openapi.json: do not edit."""',
            "",
            "from __future__ import annotations",
            "",
            "import datetime",
            "from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Union, cast",
            "",
            f"from . import {', '.join(sorted({'_base', '_forward', '_response'} | {m for m, _ in HELPERS.values()}))}",
            "from ._base import NOT_GIVEN, NotGiven, RequestOptions, Timeout, operation",
            "from ._forward import ForwardedIdentity",
            "from .types import (",
        ]
        out += [f"    {n}," for n in model_names]
        out += [
            ")",
            "",
            "if TYPE_CHECKING:",
            "    from ._client import AsyncLatchkey, Latchkey",
            "    from ._pagination import AsyncPaginator, SyncPage",
            "",
            "__all__ = [\"LatchkeyResources\", \"AsyncLatchkeyResources\"]",
            "",
            "# Used by the annotations of some methods only.",
            "_ = (datetime, Any, Dict, List, Sequence)",
        ]

        def cls(resource: str, is_async: bool) -> str:
            base = "".join(p.title() for p in resource.replace(".", "_").split("_")) + "Resource"
            return ("Async" if is_async else "") + base

        for is_async in (False, True):
            client_type = "AsyncLatchkey" if is_async else "Latchkey"
            for r in sorted(resources, key=lambda r: -r.count(".")):
                out += ["", ""]
                helper = HELPERS.get(r)
                base = f"({helper[0]}.{'Async' if is_async else ''}{helper[1]})" if helper else ""
                out.append(f"class {cls(r, is_async)}{base}:")
                out += docstring(RESOURCE_DOCS.get(r, r), "    ")
                children = [c for c in resources if c.rsplit(".", 1)[0] == r and c != r and "." in c]
                for c in children:
                    out.append("")
                    out.append(f"    {c.rsplit('.', 1)[1]}: {cls(c, is_async)}")
                    out += docstring(RESOURCE_DOCS.get(c, c), "    ")
                out.append("")
                out.append(f"    def __init__(self, client: {client_type}) -> None:")
                out.append("        self._client = client")
                for c in children:
                    out.append(f"        self.{c.rsplit('.', 1)[1]} = {cls(c, is_async)}(client)")
                for o in by_resource[r]:
                    out.append("")
                    out += self.method_lines(o, is_async)
            top = "AsyncLatchkeyResources" if is_async else "LatchkeyResources"
            out += ["", ""]
            out.append(f"class {top}:")
            out += docstring(f"The resources of :class:`{client_type}`, and its own methods.", "    ")
            roots = [r for r in resources if "." not in r]
            for r in roots:
                out.append("")
                out.append(f"    {r}: {cls(r, is_async)}")
                out += docstring(RESOURCE_DOCS.get(r, r), "    ")
            out.append("")
            out.append("    def __init__(self) -> None:")
            out.append(f'        client = cast("{client_type}", self)')
            for r in roots:
                out.append(f"        self.{r} = {cls(r, is_async)}(client)")
            out.append("")
            out.append("    @property")
            out.append(f"    def _client(self) -> {client_type}:")
            out.append(f'        return cast("{client_type}", self)')
            for o in by_resource.get("", []):
                out.append("")
                out += self.method_lines(o, is_async)
        return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the generated files are out of date")
    parser.add_argument("--document", type=Path, default=DOCUMENT)
    args = parser.parse_args()
    doc = json.loads(args.document.read_text(encoding="utf-8"))
    gen = Generator(doc)
    resources = gen.resources_module()
    types = gen.types_module()
    stale = []
    for path, text in ((TYPES_OUT, types), (RESOURCES_OUT, resources)):
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        for path in stale:
            print(f"{path.relative_to(SDK)} is out of date: run python codegen/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
