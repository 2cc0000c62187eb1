"""The JSON Schema of the spec, generated from the pydantic models.

``schemas/agentform.schema.json`` is this module's output, committed so editors
(``# yaml-language-server: $schema=...``) and CI can use it without agentform installed; a test
fails when the committed file is stale (``agentform schema --write`` regenerates it). The schema
describes the file *as written*, so wherever a number or boolean is expected it also accepts a
string that is exactly one ``${...}`` interpolation (``replicas: ${var.replicas}``), and no
top-level key is required, since each file of a split spec is checked on its own. Called by
the ``schema`` command and the tests.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from agentform.spec.models import Spec

__all__ = ["SCHEMA_ID", "SCHEMA_PATH", "build_schema", "render_schema"]

SCHEMA_PATH = "schemas/agentform.schema.json"
SCHEMA_ID = "https://agentform.dev/schemas/agentform.schema.json"
_INTERPOLATION = {
    "type": "string",
    "pattern": r"^\$\{[^}]+\}$",
    "description": "A ${var.NAME} or ${env.NAME} interpolation resolved at load time.",
}


class _SpecSchema(GenerateJsonSchema):
    def _interpolable(self, schema: JsonSchemaValue) -> JsonSchemaValue:
        return {"anyOf": [schema, _INTERPOLATION]}

    def int_schema(self, schema: core_schema.IntSchema) -> JsonSchemaValue:
        return self._interpolable(super().int_schema(schema))

    def float_schema(self, schema: core_schema.FloatSchema) -> JsonSchemaValue:
        return self._interpolable(super().float_schema(schema))

    def bool_schema(self, schema: core_schema.BoolSchema) -> JsonSchemaValue:
        return self._interpolable(super().bool_schema(schema))


def build_schema() -> dict[str, Any]:
    """The spec's JSON Schema (draft 2020-12) as a dict."""
    body = Spec.model_json_schema(schema_generator=_SpecSchema)
    # a spec may be split across files (include:, directories), and the schema checks each
    # file on its own: version and project are required of the whole spec, by the loader
    body.pop("required", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "agentform spec",
        "description": "An agentform project: agents, models, tools, memory, policies, access "
        "and schedules. Generated from agentform.spec.models; do not edit by hand.",
        **{k: v for k, v in body.items() if k not in ("title", "description")},
    }


def render_schema() -> str:
    """The schema as committed: stable key order, two-space indent, trailing newline."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"
