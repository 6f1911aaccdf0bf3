"""The generated-client check (scripts/generated-client): a Python client generated from
openapi.yaml by openapi-python-client, used the way an integration would, against the function
served locally. Every step asserts; the first failure ends the run with a traceback.

Usage: generated_client_check.py BASE_URL ADMIN_BINARY  (the generated package on PYTHONPATH)
"""

import base64
import json
import subprocess
import sys
import uuid

from person_patch_client import AuthenticatedClient
from person_patch_client.api.contacts_v_1 import patch_contacts_v1_person
from person_patch_client.api.persons_v_2 import patch_persons_v2_person
from person_patch_client import models
from person_patch_client.types import UNSET

BASE, ADMIN = sys.argv[1], sys.argv[2]
CUSTOMER = "14532"
V1_PERSON = uuid.UUID("3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c")
V2_PERSON = 16


def stored(person):
    out = subprocess.run(
        [ADMIN, "get-person", "--customer", CUSTOMER, "--person", str(person)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def step(text):
    print(f"generated client: {text}", flush=True)


client = AuthenticatedClient(
    base_url=BASE,
    token=base64.b64encode(b"beqa4api:beqa4api").decode(),
    prefix="Basic",
    raise_on_unexpected_status=True,
)

# 1. Contacts v1: one field omitted (surname), one set to null (title) -> 204, stored as such.
before = stored(V1_PERSON)
body = models.ContactsV1Patch(forename="Augusta", title=None)
assert body.to_dict() == {"forename": "Augusta", "title": None}, body.to_dict()
response = patch_contacts_v1_person.sync_detailed(V1_PERSON, client=client, body=body, customer_id=CUSTOMER)
assert response.status_code == 204, (response.status_code, response.content)
etag = response.headers["etag"]
after = stored(V1_PERSON)
assert after["forename"] == "Augusta", after
assert "title" not in after, after
assert after["surname"] == before["surname"], (before, after)
assert etag == f'"{after["version"]}"', (etag, after["version"])
step(f"v1 PATCH with title null and surname omitted: 204, ETag {etag}, stored as sent")

# 2. Contacts v1: a 422 parsed into its typed model, with its errors.
response = patch_contacts_v1_person.sync_detailed(
    V1_PERSON, client=client, body=models.ContactsV1Patch(forename="", email="not-an-address"),
    customer_id=CUSTOMER,
)
assert response.status_code == 422, (response.status_code, response.content)
problem = response.parsed
assert isinstance(problem, models.ValidationProblem), type(problem)
assert problem.status == 422
errors = problem.errors.to_dict()
assert set(errors) == {"forename", "email"}, errors
assert all(isinstance(m, str) for messages in errors.values() for m in messages), errors
step(f"v1 422 parsed as ValidationProblem with errors for {sorted(errors)}")

# 3. Persons v2: the answer parsed into the typed record.
response = patch_persons_v2_person.sync_detailed(
    V2_PERSON, client=client,
    body=models.PersonsV2Patch(first_name="Grace", home_site_id=5, is_active="t", prefix=""),
)
assert response.status_code == 200, (response.status_code, response.content)
record = response.parsed
assert isinstance(record, models.PersonsV2Record), type(record)
assert record.id == V2_PERSON and record.first_name == "Grace", record
assert record.home_site_id == "5" and record.prefix is None, record
assert record.is_active == models.PersonsV2RecordIsActiveType1.TRUE, record.is_active
v2_etag = response.headers["etag"]
step(f"v2 PATCH parsed as PersonsV2Record (ID {record.id}), ETag {v2_etag}")

# 4. If-Match: a stale version is a 412 with the current ETag, and nothing is written.
stale = '"1"'
assert stale != v2_etag
response = patch_persons_v2_person.sync_detailed(
    V2_PERSON, client=client, body=models.PersonsV2Patch(city="Stale"), if_match=stale,
)
assert response.status_code == 412, (response.status_code, response.content)
assert isinstance(response.parsed, models.AspNetProblem), type(response.parsed)
assert response.headers["etag"] == v2_etag, response.headers
assert stored(V2_PERSON).get("City") != "Stale"
response = patch_persons_v2_person.sync_detailed(
    V2_PERSON, client=client, body=models.PersonsV2Patch(city="Fresh"), if_match=v2_etag,
)
assert response.status_code == 200 and response.parsed.city == "Fresh", response.content
step("v2 If-Match: stale version 412 (AspNetProblem, current ETag), current version 200")

# 5. Every request and response model, from a dict holding every field, and back.
problem = {"type": "about:blank", "title": "t", "status": 400, "detail": "d", "instance": "/i",
           "requestId": "r"}
samples = {
    "ContactsV1Patch": {
        "title": None, "forename": "Ada", "surname": "Lovelace", "email": "ada@example.com",
        "mobile": "1", "landline": None, "extension": "2", "position": "p", "department": None,
        "isOptedOut": True,
        "customFields": [{"definitionId": 1001, "value": "x"}, {"definitionId": 1002, "value": None}],
    },
    "CustomFieldValue": {"definitionId": 1001, "value": None},
    "PersonsV2Patch": {
        "FirstName": "G", "LastName": "H", "NameOnID": None, "Prefix": "", "Suffix": "s",
        "Gender": "g", "JobTitle": "j", "DateOfBirth": "1906-12-09", "Phone1": "1", "Phone2": None,
        "Address": "a", "City": "c", "StateProvince": "s", "PostalCode": "p", "Country": "c",
        "CompanyName": "c", "CorporateID": "c", "HomeSiteID": 5, "UserRole": "u",
        "Biography": "<p>b</p>", "IsActive": "t", "IsUser": False, "IsSpeaker": None,
        "Email": "g@example.com",
    },
    "PersonsV2Record": {
        "ID": 16, "FirstName": "G", "LastName": "H", "NameOnID": None, "Prefix": None,
        "Suffix": "s", "Gender": "g", "JobTitle": "j", "DateOfBirth": "1906-12-09",
        "Phone1": "1", "Phone2": None, "Address": "a", "City": "c", "StateProvince": "s",
        "PostalCode": "p", "Country": "c", "CompanyName": "c", "CorporateID": "c",
        "HomeSiteID": "5", "UserRole": "u", "Biography": "b", "IsActive": "true",
        "IsUser": "false", "IsSpeaker": None, "Email": None,
    },
    "Problem": dict(problem),
    "ValidationProblem": dict(problem, status=422, errors={"forename": ["Required."]}),
    "ValidationProblemErrors": {"forename": ["Required."], "customFields[0].value": ["Bad."]},
    "AspNetProblem": dict(problem, traceId="00-ab-cd-00"),
    "AspNetValidationProblem": dict(problem, traceId="00-ab-cd-00", errors={"FirstName": ["Required."]}),
    "AspNetValidationProblemErrors": {"FirstName": ["Required."]},
}
generated = {name for name in dir(models) if isinstance(getattr(models, name), type)
             and hasattr(getattr(models, name), "from_dict")}
missing = generated - set(samples)
assert not missing, f"no sample for the generated models {sorted(missing)}"
for name, sample in samples.items():
    model = getattr(models, name).from_dict(sample)
    back = model.to_dict()
    assert back == sample, (name, sample, back)
# A single field, as a client sends one (this raised with a `const: ""` union branch).
assert models.PersonsV2Patch.from_dict({"HomeSiteID": 5}).to_dict() == {"HomeSiteID": 5}
step(f"{len(samples)} models from a dict holding every field and back: identical")
print("generated client: all checks passed")
