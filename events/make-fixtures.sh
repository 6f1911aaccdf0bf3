#!/usr/bin/env bash
# Derives the fixture variants from the four sam-generated bases (v1|v2 × http-api|rest-api
# *-patch.json) and writes each beside its expected response. Run from the repository root:
#   bash events/make-fixtures.sh
# Needs jq. The outputs are committed; tests read them, not this script.
set -euo pipefail
cd "$(dirname "$0")"

V1_ID=3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c
CHALLENGE='Basic realm=\"persons\", charset=\"UTF-8\"'

# set_header FILE NAME VALUE: for both payload shapes (REST keeps multiValueHeaders too).
jq_header='def set_header($n; $v):
  if has("multiValueHeaders") then
    (.headers |= with_entries(select((.key | ascii_downcase) != ($n | ascii_downcase))) + {($n): $v})
    | (.multiValueHeaders |= with_entries(select((.key | ascii_downcase) != ($n | ascii_downcase))) + {($n): [$v]})
  else
    (.headers |= with_entries(select(.key != ($n | ascii_downcase))) + {($n | ascii_downcase): $v})
  end;
def drop_header($n):
  (.headers |= with_entries(select((.key | ascii_downcase) != ($n | ascii_downcase))))
  | if has("multiValueHeaders") then
      (.multiValueHeaders |= with_entries(select((.key | ascii_downcase) != ($n | ascii_downcase))))
    else . end;
def set_body($b): .body = $b | .isBase64Encoded = false;
def set_path($p; $id):
  if has("rawPath") then .rawPath = $p | .requestContext.http.path = $p
  else .path = $p | .requestContext.path = ("/" + .requestContext.stage + $p) end
  | .pathParameters = {"personId": $id};
def set_method($m):
  if has("rawPath") then .requestContext.http.method = $m
  else .httpMethod = $m | .requestContext.httpMethod = $m end;
def jwt($claims; $scopes):
  set_header("Authorization"; "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
  | if has("rawPath") then .requestContext.authorizer = {"jwt": {"claims": $claims, "scopes": $scopes}}
    else .requestContext.authorizer = {"claims": ($claims + {"scope": ($scopes | join(" "))})} end;'

variant() { # variant BASE NAME JQ-FILTER EXPECTED-JSON
  local base=$1 name=$2 filter=$3 expected=$4
  local dir shape
  dir=$(dirname "$base")
  shape=$(basename "$base" -patch.json)
  jq "$jq_header $filter" "$base" > "$dir/$shape-$name.json"
  printf '%s\n' "$expected" | jq . > "$dir/$shape-$name.expected.json"
}

for shape in http-api rest-api; do
  v1=v1/$shape-patch.json
  v2=v2/$shape-patch.json

  # Contacts v1
  printf '%s\n' '{"status": 204, "headers": {"etag": "\"2\""}, "body": null}' | jq . > "v1/$shape-patch.expected.json"
  variant "$v1" no-credentials 'drop_header("Authorization")' \
    "{\"status\": 401, \"headers\": {\"www-authenticate\": \"$CHALLENGE\"}, \"problemType\": \"urn:person-patch:problem:unauthenticated\"}"
  variant "$v1" wrong-secret 'set_header("Authorization"; "Basic YmVxYTRhcGk6d3Jvbmc=")' \
    "{\"status\": 401, \"headers\": {\"www-authenticate\": \"$CHALLENGE\"}, \"problemType\": \"urn:person-patch:problem:unauthenticated\"}"
  variant "$v1" jwt-authorizer 'jwt({"client_id": "beqa4api"}; ["contacts:persons:write"])' \
    '{"status": 204, "headers": {"etag": "\"2\""}}'
  variant "$v1" jwt-without-scope 'jwt({"client_id": "beqa4api"}; ["openid"])' \
    '{"status": 403, "problemType": "urn:person-patch:problem:forbidden"}'
  variant "$v1" foreign-customer 'set_header("Customer-Id"; "99999")' \
    '{"status": 403, "problemType": "urn:person-patch:problem:forbidden"}'
  variant "$v1" missing-customer-id 'drop_header("Customer-Id")' \
    '{"status": 400, "problemType": "urn:person-patch:problem:bad-request"}'
  variant "$v1" control-character-header 'set_header("X-Anything"; "a\u0001b")' \
    '{"status": 400, "problemType": "urn:person-patch:problem:bad-request"}'
  variant "$v1" unknown-person 'set_path("/v1/persons/00000000-0000-4000-8000-000000000000"; "00000000-0000-4000-8000-000000000000")' \
    '{"status": 404, "problemType": "urn:person-patch:problem:person-not-found"}'
  variant "$v1" bad-id 'set_path("/v1/persons/16"; "16")' \
    '{"status": 400, "problemType": "urn:person-patch:problem:bad-request"}'
  variant "$v1" get 'set_method("GET")' \
    '{"status": 405, "headers": {"allow": "PATCH"}, "problemType": "urn:person-patch:problem:method-not-allowed"}'
  variant "$v1" text-plain 'set_header("Content-Type"; "text/plain")' \
    '{"status": 415, "problemType": "urn:person-patch:problem:unsupported-media-type"}'
  variant "$v1" malformed-json 'set_body("{\"forename\": ")' \
    '{"status": 400, "problemType": "urn:person-patch:problem:malformed-body"}'
  variant "$v1" undecodable-base64 '.body = "%%%" | .isBase64Encoded = true' \
    '{"status": 400, "problemType": "urn:person-patch:problem:malformed-body"}'
  variant "$v1" invalid-fields 'set_body("{\"forename\": \"\", \"email\": \"nope\", \"nickname\": \"x\"}")' \
    '{"status": 422, "problemType": "urn:person-patch:problem:validation-failed", "body": {"errors": {"forename": ["The value must not be empty."], "email": ["The value must be a valid email address."], "nickname": ["Unknown property."]}}}'
  variant "$v1" custom-fields 'set_body("{\"customFields\": [{\"definitionId\": 1004, \"value\": \"Gold\"}, {\"definitionId\": 1001, \"value\": null}]}")' \
    '{"status": 204, "headers": {"etag": "\"2\""}}'
  variant "$v1" stale-if-match 'set_header("If-Match"; "\"7\"")' \
    '{"status": 412, "headers": {"etag": "\"1\""}, "problemType": "urn:person-patch:problem:precondition-failed"}'

  # Persons v2
  printf '%s\n' '{"status": 200, "headers": {"etag": "\"2\"", "content-type": "application/json; charset=utf-8"}, "body": {"ID": 16, "FirstName": "2", "Prefix": null, "HomeSiteID": "5", "UserRole": "Acct Team lead ", "IsActive": "false", "IsUser": "true", "IsSpeaker": "true"}}' | jq . > "v2/$shape-patch.expected.json"
  variant "$v2" no-credentials 'drop_header("Authorization")' \
    "{\"status\": 401, \"headers\": {\"www-authenticate\": \"$CHALLENGE\"}, \"problemType\": \"https://tools.ietf.org/html/rfc9110#section-15.5.2\"}"
  variant "$v2" unknown-person 'set_path("/api/v2/persons/999"; "999")' \
    '{"status": 404, "problemType": "https://tools.ietf.org/html/rfc9110#section-15.5.5"}'
  variant "$v2" bad-id 'set_path("/api/v2/persons/0"; "0")' \
    '{"status": 400, "problemType": "https://tools.ietf.org/html/rfc9110#section-15.5.1"}'
  variant "$v2" text-plain 'set_header("Content-Type"; "text/plain")' \
    '{"status": 415, "problemType": "https://tools.ietf.org/html/rfc9110#section-15.5.16"}'
  variant "$v2" invalid-fields 'set_body("{\"FirstName\": null, \"HomeSiteID\": \"x\", \"ID\": 5}")' \
    '{"status": 400, "problemType": "https://tools.ietf.org/html/rfc9110#section-15.5.1", "body": {"title": "One or more validation errors occurred.", "errors": {"FirstName": ["The value must not be null."], "HomeSiteID": ["The value must be a whole number written in digits."], "ID": ["The property is read-only and cannot be changed."]}}}'
  variant "$v2" malformed-json 'set_body("{")' \
    '{"status": 400, "problemType": "https://tools.ietf.org/html/rfc9110#section-15.5.1", "body": {"title": "One or more validation errors occurred."}}'
  variant "$v2" one-field 'set_body("{\"City\": \"Boston\"}")' \
    '{"status": 200, "body": {"ID": 16, "City": "Boston", "FirstName": "Grace", "Prefix": null}}'
  variant "$v2" stale-if-match 'set_header("If-Match"; "\"9\"")' \
    '{"status": 412, "headers": {"etag": "\"1\""}, "problemType": "https://tools.ietf.org/html/rfc9110#section-15.5.13"}'
done
