"""What a deploy of template.yaml would create, checked without AWS.

The SAM translator (the library `sam deploy` and CloudFormation's transform use) turns the
template into CloudFormation for several parameter choices; each result is checked here and
written to target/template/<case>.json for cfn-lint. Run by `make template-check` (in
`make lint`). Prints one line per case and a summary; exits non-zero on the first failure.
"""

import json
import logging
import os
import sys
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "template"

CASES = {
    "defaults": {},
    "all-at-once": {"DeploymentType": "AllAtOnce"},
    "capped-and-warm": {
        "DeploymentType": "Linear10PercentEvery1Minute",
        "ReservedConcurrency": "50",
        "ProvisionedConcurrency": "2",
    },
}

NEW_VERSION_ALARMS = [
    "NewVersionServerErrorAlarm",
    "NewVersionLatencyAlarm",
    "NewVersionErrorAlarm",
    "NewVersionThrottleAlarm",
]


class NoManagedPolicies:
    """The template names no managed policy, so none needs looking up."""

    def load(self):
        return {}


def translated(parameters):
    template = yaml_parse((ROOT / "template.yaml").read_text())
    # The code is packaged by `sam build`; the translator wants an S3 location.
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/key"
    return transform(template, parameters, NoManagedPolicies())


def resolve(value, parameters, conditions):
    """Evaluates Ref-to-parameter, Fn::If, Fn::Equals and Fn::Not the way CloudFormation
    would for these parameter values; anything else is returned as it is."""
    if isinstance(value, list):
        return [resolve(v, parameters, conditions) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    if set(value) == {"Fn::If"}:
        name, then, otherwise = value["Fn::If"]
        chosen = then if condition(name, parameters, conditions) else otherwise
        return resolve(chosen, parameters, conditions)
    return {k: resolve(v, parameters, conditions) for k, v in value.items()}


def condition(name, parameters, conditions):
    def evaluate(expression):
        if "Fn::Not" in expression:
            return not evaluate(expression["Fn::Not"][0])
        if "Fn::And" in expression:
            return all(evaluate(e) for e in expression["Fn::And"])
        if "Fn::Equals" in expression:
            a, b = (resolve(x, parameters, conditions) for x in expression["Fn::Equals"])
            return str(a) == str(b)
        if "Condition" in expression:
            return condition(expression["Condition"], parameters, conditions)
        raise AssertionError(f"unexpected condition {expression}")

    return evaluate(conditions[name])


def of_type(resources, kind):
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def check(case, overrides, output):
    template = yaml_parse((ROOT / "template.yaml").read_text())
    parameters = {k: v.get("Default") for k, v in template["Parameters"].items()}
    parameters.update(overrides)
    resources = output["Resources"]
    conditions = output.get("Conditions", {})

    # A version and an alias per function.
    for function in ["PersonPatchFunction", "PersonEventsFunction"]:
        aliases = [
            k for k, v in of_type(resources, "AWS::Lambda::Alias").items()
            if v["Properties"]["FunctionName"] == {"Ref": function}
        ]
        versions = [
            k for k, v in of_type(resources, "AWS::Lambda::Version").items()
            if v["Properties"]["FunctionName"] == {"Ref": function}
        ]
        assert len(aliases) == 1 and len(versions) == 1, f"{function}: {aliases} {versions}"
        alias = resources[aliases[0]]["Properties"]
        assert alias["Name"] == "live", alias
    alias_ref = {"Ref": "PersonPatchFunctionAliaslive"}
    events_alias_ref = {"Ref": "PersonEventsFunctionAliaslive"}

    # Everything that invokes a function goes through its alias.
    assert resources["HttpApiIntegration"]["Properties"]["IntegrationUri"] == alias_ref
    assert resources["HttpApiInvokePermission"]["Properties"]["FunctionName"] == alias_ref
    assert resources["PersonEventsStreamMapping"]["Properties"]["FunctionName"] == events_alias_ref
    for name, permission in of_type(resources, "AWS::Lambda::Permission").items():
        target = permission["Properties"]["FunctionName"]
        assert target in (alias_ref, events_alias_ref), f"{name} invokes {target}"

    # CodeDeploy shifts person-patch gradually and rolls back on the new-version alarms.
    assert len(of_type(resources, "AWS::CodeDeploy::Application")) == 1
    groups = of_type(resources, "AWS::CodeDeploy::DeploymentGroup")
    assert list(groups) == ["PersonPatchFunctionDeploymentGroup"], list(groups)
    group = groups["PersonPatchFunctionDeploymentGroup"]["Properties"]
    alarms = [a["Name"] for a in group["AlarmConfiguration"]["Alarms"]]
    for alarm in NEW_VERSION_ALARMS:
        assert {"Ref": alarm} in alarms, f"{alarm} not in {alarms}"
    assert group["AlarmConfiguration"]["Enabled"] is True
    assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
    config = resolve(group["DeploymentConfigName"], parameters, conditions)
    chosen = config["Fn::Sub"][1]["ConfigName"] if isinstance(config, dict) else config
    assert chosen.endswith(parameters["DeploymentType"]), (chosen, parameters["DeploymentType"])
    alias_resource = resources["PersonPatchFunctionAliaslive"]
    assert alias_resource["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"], alias_resource

    # The new-version alarms watch the version being deployed.
    version = [k for k in of_type(resources, "AWS::Lambda::Version") if k.startswith("PersonPatchFunctionVersion")][0]
    for alarm in ["NewVersionServerErrorAlarm", "NewVersionLatencyAlarm", "NewVersionErrorAlarm"]:
        text = json.dumps(resources[alarm]["Properties"])
        assert json.dumps({"Fn::GetAtt": [version, "Version"]}) in text, alarm

    # Concurrency follows its parameters.
    function = resolve(resources["PersonPatchFunction"]["Properties"], parameters, conditions)
    reserved = function.get("ReservedConcurrentExecutions", {"Ref": "AWS::NoValue"})
    if parameters["ReservedConcurrency"]:
        assert str(reserved) == parameters["ReservedConcurrency"], reserved
    else:
        assert reserved == {"Ref": "AWS::NoValue"}, reserved
    provisioned = resolve(alias_resource["Properties"], parameters, conditions).get(
        "ProvisionedConcurrencyConfig", {"Ref": "AWS::NoValue"}
    )
    if str(parameters["ProvisionedConcurrency"]) != "0":
        assert str(provisioned["ProvisionedConcurrentExecutions"]) == str(
            parameters["ProvisionedConcurrency"]
        ), provisioned
    else:
        assert provisioned == {"Ref": "AWS::NoValue"}, provisioned

    # One dashboard, showing every alarm.
    dashboards = of_type(resources, "AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    body = json.dumps(list(dashboards.values())[0]["Properties"]["DashboardBody"])
    for alarm in of_type(resources, "AWS::CloudWatch::Alarm"):
        assert "${%s.Arn}" % alarm in body, f"the dashboard lacks {alarm}"
    for metric in ["Status5xx", "DynamoDBLatency", "ColdStart", "AuthFailures", "Throttles",
                   "EventsPublished", "EventsFailed", "IteratorAge"]:
        assert metric in body, f"the dashboard lacks {metric}"

    print(f"template {case}: {len(resources)} resources, deployment {chosen}, "
          f"reserved {reserved if parameters['ReservedConcurrency'] else 'none'}, "
          f"provisioned {parameters['ProvisionedConcurrency']}: ok")


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # The translator's own notices (feature toggles, its metrics) are not findings.
    logging.disable(logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    for case, overrides in CASES.items():
        output = translated(dict(overrides))
        (OUT / f"{case}.json").write_text(json.dumps(output, indent=1))
        try:
            check(case, overrides, output)
        except AssertionError as failure:
            print(f"template {case}: FAILED: {failure}", file=sys.stderr)
            return 1
    print(f"template checks: {len(CASES)} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
