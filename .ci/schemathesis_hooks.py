"""Teaches the fuzzer to send the catalog import's NDJSON body: one JSON
value per line (a generated list becomes several lines)."""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return {"data": value}
    if isinstance(value, str):
        return {"data": value.encode("utf-8")}
    lines = value if isinstance(value, list) else [value]
    return {"data": "\n".join(json.dumps(line) for line in lines).encode("utf-8")}
