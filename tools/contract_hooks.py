"""schemathesis hooks for `make contract` (loaded through SCHEMATHESIS_HOOKS).

An Idempotency-Key binds its first request: the same key with another request is a 422, by
design. Generated cases reuse the few keys the generator likes best ("0", the example) across
different bodies, which would turn schema-valid requests into those 422s. So a well-formed key
is made specific to its request (method, path, If-Match, body): the same request sent twice
keeps its key and is replayed, as a client retrying would; a different request gets a
different key. Malformed keys are left as they are (they must get the 400).
"""

import hashlib
import json
import re

import schemathesis

KEY = re.compile(r'^"([\x20-\x21\x23-\x5B\x5D-\x7E]|\\["\\]){1,255}"$')


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    name = next((h for h in headers if h.lower() == "idempotency-key"), None)
    if name is None or not isinstance(headers[name], str) or not KEY.match(headers[name]):
        return
    if_match = next((v for h, v in headers.items() if h.lower() == "if-match"), "")
    body = case.body
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body, sort_keys=True, default=str)
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(
        b"\0".join([case.method.encode(), case.formatted_path.encode(), str(if_match).encode(), body])
    ).hexdigest()[:16]
    inner = headers[name][1:-1]
    headers[name] = '"' + (digest + "-" + inner)[:255].rstrip("\\") + '"'
