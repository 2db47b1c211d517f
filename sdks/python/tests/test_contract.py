"""The SDK against the contract (docs/openapi.json): the generated files
are what the document gives, every operation has a method on both clients
with the document's parameters, and the models read what the schemas
describe (the document's examples, and instances generated from each
schema)."""

from __future__ import annotations

import copy
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from latchkey import AsyncLatchkey, Latchkey
from latchkey._models import LatchkeyModel
from latchkey.types import SCHEMAS
from support import DOCUMENT

SDK = Path(__file__).resolve().parents[1]
DOC: Dict[str, Any] = json.loads(DOCUMENT.read_text())
COMPONENTS: Dict[str, Any] = DOC["components"]["schemas"]
METHODS = ("get", "post", "put", "patch", "delete")


def operations() -> Iterator[Tuple[str, str, Dict[str, Any]]]:
    for path, item in DOC["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def test_regenerating_from_the_document_changes_nothing() -> None:
    run = subprocess.run(
        [sys.executable, str(SDK / "codegen" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr


def methods_of(client: Any) -> Dict[str, Tuple[str, Callable[..., Any]]]:
    """operationId → (dotted name, bound method), walking the client's resources."""
    found: Dict[str, Tuple[str, Callable[..., Any]]] = {}

    def walk(obj: Any, prefix: str) -> None:
        for name in dir(obj):
            if name.startswith("_"):
                continue
            attr = getattr(obj, name)
            oid = getattr(attr, "__operation_id__", None)
            if oid is not None:
                assert oid not in found, f"{oid} has two methods: {found[oid][0]} and {prefix}{name}"
                found[oid] = (prefix + name, attr)
            elif type(attr).__name__.endswith("Resource"):
                walk(attr, f"{prefix}{name}.")

    walk(client, "")
    return found


def snake(name: str) -> str:
    name = re.sub(r"^x-(latchkey-)?", "", name).replace("-", "_")
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


@pytest.mark.parametrize("client_type", [Latchkey, AsyncLatchkey])
def test_every_operation_has_a_method_with_the_documents_parameters(client_type: Any) -> None:
    client = client_type(api_key="unused", base_url="http://127.0.0.1:9")
    found = methods_of(client)
    documented = {op["operationId"] for _, _, op in operations()}
    assert len(documented) == sum(1 for _ in operations()), "operationIds are unique"
    assert sorted(documented - set(found)) == [], "operations without a method"
    assert sorted(set(found) - documented) == [], "methods of no operation"
    for path, method, op in operations():
        name, fn = found[op["operationId"]]
        sig = inspect.signature(fn)
        params = sig.parameters
        expected: List[Tuple[str, bool]] = [(snake(p["name"]), bool(p.get("required"))) for p in op.get("parameters", [])]
        body = op.get("requestBody")
        ref = body["content"]["application/json"]["schema"].get("$ref") if body else None
        if ref:
            schema = COMPONENTS[ref.rsplit("/", 1)[1]]
            expected += [(snake(p), p in schema.get("required", [])) for p in schema.get("properties", {})]
        elif body:
            # A body that is not an object is one required argument: the bytes of a
            # signed report's JSON array, sent as given, or the items of a JSON array
            # (an import's keys), as models or dicts.
            named = {pname for pname, _ in expected} | {"extra_headers", "timeout"}
            whole = [p for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in named]
            assert len(whole) == 1 and whole[0].default is inspect.Parameter.empty, f"{name}: one argument for the body"
            item = body["content"]["application/json"]["schema"].get("items", {}).get("$ref", "").rsplit("/", 1)[-1]
            items = f"Sequence[Union[{item}, {item}Param]]"
            assert whole[0].annotation in (bytes, "bytes", items), f"{name}: the body is bytes or {items}"
        for pname, required in expected:
            assert pname in params, f"{name}: no argument for {pname} ({method.upper()} {path})"
            has_default = params[pname].default is not inspect.Parameter.empty
            assert has_default != required, f"{name}({pname}): required is {required} in the document"
        path_names = [snake(p) for p in re.findall(r"{([^}]+)}", path)]
        positional = [p.name for p in params.values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        assert positional == path_names, f"{name}: positional arguments are the path's"
        lists = "Paged_" in json.dumps(op["responses"].get("200", {}))
        if client_type is AsyncLatchkey and not lists:
            assert inspect.iscoroutinefunction(fn), f"{name} is async"
        else:
            assert not inspect.iscoroutinefunction(fn), name


def inline(schema: Any) -> Any:
    """``schema`` with every ``$ref`` replaced by what it names, and every
    object closed to the documented properties (so an instance has nothing
    a model could keep as an unknown extra)."""
    if isinstance(schema, list):
        return [inline(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target = inline(COMPONENTS[schema["$ref"].rsplit("/", 1)[1]])
        return {**target, **{k: v for k, v in schema.items() if k not in ("$ref", "description")}}
    out = {k: inline(v) for k, v in schema.items()}
    if out.get("format") in ("int32", "int64"):
        del out["format"]
    if "properties" in out:
        out["additionalProperties"] = False
    if "allOf" in out:
        merged: Dict[str, Any] = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
        for part in out.pop("allOf"):
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
        out.update(merged)
    return out


def strategy(schema: Dict[str, Any]) -> st.SearchStrategy[Any]:
    """Instances of an inlined schema: every keyword the document uses
    (types, null, enums, patterns, lengths, bounds, arrays, objects with
    optional properties, maps, ``oneOf``, the ``email`` and ``date-time``
    formats). What it draws is checked against the schema by jsonschema."""
    if "oneOf" in schema:
        return st.one_of([strategy(s) for s in schema["oneOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    t = schema.get("type")
    if t is None:
        return st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))
    if isinstance(t, list):
        return st.one_of([strategy({**schema, "type": x}) for x in t])
    if t == "null":
        return st.none()
    if t == "boolean":
        return st.booleans()
    if t == "integer":
        return st.integers(min_value=schema.get("minimum", -(2**53)), max_value=schema.get("maximum", 2**53))
    if t == "string":
        fmt = schema.get("format")
        if fmt == "email":
            return st.sampled_from(["a@example.com", "first.last@sub.example.org"])
        if fmt == "date-time":
            return st.sampled_from(["2026-01-01T00:00:00Z", "2030-12-31T23:59:59.999+02:00"])
        lo, hi = schema.get("minLength", 0), schema.get("maxLength", 40)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda v: lo <= len(v) <= hi)
        # Short strings keep the examples small, but never shorter than allowed.
        return st.text(min_size=lo, max_size=max(lo, min(hi, 40)))
    if t == "array":
        # Short lists keep the examples small, but never shorter than allowed.
        lo = schema.get("minItems", 0)
        return st.lists(strategy(schema.get("items", {})), min_size=lo, max_size=max(lo, min(schema.get("maxItems", 3), 3)))
    if t == "object":
        props = schema.get("properties")
        if props is None:
            extra = schema.get("additionalProperties")
            values = strategy(extra) if isinstance(extra, dict) else st.integers()
            return st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=3)
        required = set(schema.get("required", []))
        optional = [k for k in props if k not in required]

        @st.composite
        def objects(draw: Callable[..., Any]) -> Dict[str, Any]:
            present = required | {k for k in optional if draw(st.booleans())}
            return {k: draw(strategy(props[k])) for k in props if k in present}

        return objects()
    raise AssertionError(f"no strategy for {schema}")


def examples_in(schema: Any) -> Iterator[Any]:
    """The ``example`` and ``examples`` the document gives for a schema (not
    those of the schemas it refers to, which are checked under their name)."""
    if isinstance(schema, dict):
        if "example" in schema:
            yield schema["example"]
        for e in schema.get("examples", []) if isinstance(schema.get("examples"), list) else []:
            yield e


def media_examples() -> Iterator[Tuple[str, Any]]:
    """Examples on the operations' request and answer bodies, with the schema they are for."""
    for _, _, op in operations():
        bodies = [op.get("requestBody", {})] + list(op["responses"].values())
        for b in bodies:
            for media in b.get("content", {}).values():
                ref = media.get("schema", {}).get("$ref")
                if not ref:
                    continue
                name = ref.rsplit("/", 1)[1]
                if "example" in media:
                    yield name, media["example"]
                for ex in media.get("examples", {}).values():
                    if "value" in ex:
                        yield name, ex["value"]


def test_the_types_cover_every_schema_of_the_document() -> None:
    assert sorted(SCHEMAS) == sorted(COMPONENTS)


def test_the_models_accept_the_documents_examples() -> None:
    checked = 0
    for name, schema in COMPONENTS.items():
        for example in examples_in(schema):
            pydantic.TypeAdapter(SCHEMAS[name]).validate_python(example)
            checked += 1
    for name, example in media_examples():
        pydantic.TypeAdapter(SCHEMAS[name]).validate_python(example)
        checked += 1
    if checked == 0:
        pytest.skip("docs/openapi.json gives no examples; the generated instances below stand in for them")


def unknown_fields(value: Any) -> List[str]:
    """Fields a model kept as unknown extras, anywhere in ``value``."""
    out: List[str] = []
    if isinstance(value, LatchkeyModel):
        out += [f"{type(value).__name__}.{k}" for k in (value.model_extra or {})]
        for f in type(value).model_fields:
            out += unknown_fields(getattr(value, f))
    elif isinstance(value, (list, tuple)):
        for v in value:
            out += unknown_fields(v)
    elif isinstance(value, dict):
        for v in value.values():
            out += unknown_fields(v)
    return out


@pytest.mark.parametrize("name", sorted(COMPONENTS))
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_the_models_read_every_instance_of_their_schema(name: str, data: st.DataObject) -> None:
    schema = inline(copy.deepcopy(COMPONENTS[name]))
    instance = data.draw(strategy(schema), label="instance")
    Draft202012Validator(schema).validate(instance)
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(SCHEMAS[name])
    value = adapter.validate_python(instance)
    # Every field was read into an attribute (right wire name), and written
    # back the same way.
    assert unknown_fields(value) == []
    assert adapter.dump_python(value, mode="json", by_alias=True, exclude_unset=True) == instance
    # A required field is required.
    if isinstance(instance, dict):
        for field in schema.get("required", []):
            partial = {k: v for k, v in instance.items() if k != field}
            with pytest.raises(pydantic.ValidationError):
                adapter.validate_python(partial)
