"""schemathesis hooks for `make contract` (loaded through SCHEMATHESIS_HOOKS).

Two things JSON Schema cannot describe are data, not shape; the hooks supply the data:

- An Idempotency-Key binds its first request: the same key with another request is a 422, by
  design. Generated cases reuse the few keys the generator likes best ("0", the example) across
  different bodies, which would turn schema-valid requests into those 422s. So a well-formed key
  is made specific to its request (method, path, If-Match, body): the same request sent twice
  keeps its key and is replayed, as a client retrying would; a different request gets a
  different key. Malformed keys in cases generated to be invalid are left as they are (they
  must get the 400). The coverage phase also sends "0" unquoted in cases it calls valid
  (it does not apply the header's pattern there); such a key is quoted, which is what the
  pattern says a valid key is. Likewise an optional header (If-Match, v2's Customer-Id) it
  fills with a value outside its pattern in a case it calls valid is left off.
- A Persons v2 DateOfBirth may not be after today, which a pattern cannot say (the pattern
  admits exactly the real dates of 1900-2099). A generated date after yesterday (UTC) is
  replaced by 2000-01-01, in the same form.
- Names are matched case-insensitively (patternProperties say so), and a name sent twice in
  different cases is refused, which JSON Schema cannot say (to it they are two properties). In
  a case judged valid, a property whose name repeats an earlier one in another case is left
  off. tests/ cover the refusal of such bodies.
- A custom field's definitionId must name one of the customer's definitions. scripts/contract
  creates writable note definitions 2001..2100; each generated definitionId within int64 is
  pointed at one of them, the i-th item at 2001 + i (so none repeats), whatever else the case
  holds (an integral float such as 0.0 stays a float: 2001.0). Values out of int64, fractions
  and other types are left as they are.
"""

import datetime
import hashlib
import json
import re

import schemathesis

KEY = re.compile(r'^"([\x20-\x21\x23-\x5B\x5D-\x7E]|\\["\\]){1,255}"$')
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T00:00:00)?$")
PRINTABLE = re.compile(r"^[\x20-\x7E]*$")
FIRST_DEFINITION = 2001
INT64 = (-(2**63), 2**63 - 1)


def _header(headers, wanted):
    return next((h for h in headers if h.lower() == wanted), None)


def _judged_valid(case):
    """Whether schemathesis will hold the answer to this case to the valid-request checks. (Its
    coverage phase calls some cases valid whose header component it marks invalid.)"""
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.is_positive


def _request_digest(case, headers):
    if_match = headers.get(_header(headers, "if-match") or "", "")
    body = case.body
    if not isinstance(body, (bytes, str)):
        # As schemathesis will send it (key order kept): the function fingerprints the bytes.
        body = json.dumps(body, default=str)
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    return hashlib.sha256(
        b"\0".join([case.method.encode(), case.formatted_path.encode(), str(if_match).encode(),
                    str(case.media_type).encode(), body])
    ).hexdigest()[:16]


def _idempotency_key(case):
    headers = case.headers or {}
    name = _header(headers, "idempotency-key")
    if name is None or not isinstance(headers[name], str):
        return
    value = headers[name]
    if not KEY.match(value):
        if not (_judged_valid(case) and PRINTABLE.match(value) and '"' not in value
                and "\\" not in value and 0 < len(value) <= 255):
            return
        value = '"' + value + '"'
    inner = value[1:-1]
    digest = _request_digest(case, headers)
    if inner.startswith(digest + "-"):
        return
    headers[name] = '"' + (digest + "-" + inner)[:255].rstrip("\\") + '"'


def _custom_fields(case):
    if not case.formatted_path.startswith("/v1/") or not isinstance(case.body, dict):
        return
    items = next((v for k, v in case.body.items() if k.lower() == "customfields"), None)
    if not isinstance(items, list):
        return
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key.lower() != "definitionid" or isinstance(value, bool):
                continue
            if isinstance(value, int) and INT64[0] <= value <= INT64[1]:
                item[key] = FIRST_DEFINITION + i
            elif isinstance(value, float) and value.is_integer() and INT64[0] <= value <= INT64[1]:
                item[key] = float(FIRST_DEFINITION + i)


def _date_of_birth(case):
    if not case.formatted_path.startswith("/api/v2/") or not isinstance(case.body, dict):
        return
    latest = (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)).isoformat()
    for key, value in case.body.items():
        if key.lower() == "dateofbirth" and isinstance(value, str) and DATE.match(value):
            if value[:10] > latest:
                case.body[key] = "2000-01-01" + value[10:]


def _case_repeats(case):
    if not _judged_valid(case) or not isinstance(case.body, dict):
        return
    seen = set()
    for key in list(case.body):
        if key.lower() in seen:
            del case.body[key]
        seen.add(key.lower())


def _optional_header_slips(case):
    if not _judged_valid(case):
        return
    headers = case.headers or {}
    for parameter in case.operation.headers:
        lower = parameter.name.lower()
        name = _header(headers, lower)
        pattern = (parameter.definition.get("schema") or {}).get("pattern")
        if (name is None or lower == "idempotency-key" or parameter.is_required or not pattern
                or not isinstance(headers[name], str)):
            continue
        if not re.search(pattern, headers[name]):
            del headers[name]


def _snapshot(case):
    return json.dumps([case.body, dict(case.headers or {})], default=str)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # Reading the case's metadata re-judges it against the schema after each change, and one
    # change can make another apply (a key made well-formed turns a case valid, whose repeated
    # names then go): apply them until nothing changes.
    for _ in range(4):
        before = _snapshot(case)
        _custom_fields(case)
        _date_of_birth(case)
        _case_repeats(case)
        _optional_header_slips(case)
        _idempotency_key(case)
        if _snapshot(case) == before:
            break
