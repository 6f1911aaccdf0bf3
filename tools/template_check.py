"""What a deploy of template.yaml would create, checked without AWS.

The SAM translator (the library `sam deploy` and CloudFormation's transform use) turns the
template into CloudFormation for several parameter choices; each result is checked here and
written to target/template/<case>.json for cfn-lint. Run by `make template-check` (in
`make lint`). Prints one line per case and a summary; exits non-zero on the first failure.
"""

import json
import logging
import os
import re
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
    "managed-instances": {
        "ManagedInstancesSubnetIds": ["subnet-0a1", "subnet-0b2"],
        "ManagedInstancesSecurityGroupIds": ["sg-0c3"],
        "ManagedInstancesMaxConcurrency": "64",
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
    """Evaluates Ref-to-parameter, Fn::If, Fn::Join (of resolved text) and the conditions the
    way CloudFormation would for these parameter values; anything else is returned as it is."""
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
    if set(value) == {"Fn::Join"}:
        separator, items = value["Fn::Join"]
        items = resolve(items, parameters, conditions)
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return separator.join(items)
    return {k: resolve(v, parameters, conditions) for k, v in value.items()}


def condition(name, parameters, conditions):
    def evaluate(expression):
        if "Fn::Not" in expression:
            return not evaluate(expression["Fn::Not"][0])
        if "Fn::And" in expression:
            return all(evaluate(e) for e in expression["Fn::And"])
        if "Fn::Or" in expression:
            return any(evaluate(e) for e in expression["Fn::Or"])
        if "Fn::Equals" in expression:
            a, b = (resolve(x, parameters, conditions) for x in expression["Fn::Equals"])
            return str(a) == str(b)
        if "Condition" in expression:
            return condition(expression["Condition"], parameters, conditions)
        raise AssertionError(f"unexpected condition {expression}")

    return evaluate(conditions[name])


def of_type(resources, kind):
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def created(output, parameters, conditions):
    """The resources a deploy creates for these parameters, each resolved."""
    return {
        name: resolve(resource, parameters, conditions)
        for name, resource in output["Resources"].items()
        if "Condition" not in resource or condition(resource["Condition"], parameters, conditions)
    }


def referenced(value):
    """Every logical id `value` refers to: Ref, Fn::GetAtt and ${...} in Fn::Sub."""
    found = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced(item)
    elif isinstance(value, dict):
        if set(value) == {"Ref"} and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        elif set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        elif set(value) == {"Fn::Sub"}:
            text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            for name in re.findall(r"\$\{([^}!]+)\}", text):
                if name.split(".")[0] not in variables:
                    found.add(name.split(".")[0])
            found |= referenced(variables)
        else:
            for item in value.values():
                found |= referenced(item)
    return found


def dashboard_text(body):
    """A resolved Fn::Sub dashboard body, its variables written in where they are text."""
    text, variables = (body["Fn::Sub"], {}) if isinstance(body["Fn::Sub"], str) else body["Fn::Sub"]
    for name, value in variables.items():
        if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
            value = value["Fn::Sub"]
        if isinstance(value, dict) and set(value) == {"Ref"}:
            value = "${%s}" % value["Ref"]
        text = text.replace("${%s}" % name, value)
    return text


def check(case, overrides, output):
    template = yaml_parse((ROOT / "template.yaml").read_text())
    parameters = {k: v.get("Default") for k, v in template["Parameters"].items()}
    parameters.update(overrides)
    for name, declared in template["Parameters"].items():
        if declared["Type"] == "CommaDelimitedList" and isinstance(parameters[name], str):
            parameters[name] = parameters[name].split(",")
    conditions = output.get("Conditions", {})
    resources = created(output, parameters, conditions)
    managed = bool(overrides.get("ManagedInstancesSubnetIds"))
    patch = "PersonPatchManagedFunction" if managed else "PersonPatchFunction"

    # Nothing refers to a resource this choice does not create.
    known = set(resources) | set(parameters) | {
        "AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::StackId",
        "AWS::URLSuffix", "AWS::NoValue",
    }
    outputs = resolve(output.get("Outputs", {}), parameters, conditions)
    dangling = referenced(resources) - known | referenced(outputs) - known
    assert not dangling, f"references to resources not created: {sorted(dangling)}"

    # One PATCH function, on the chosen compute, and a version and an alias per function.
    functions = [k for k in of_type(resources, "AWS::Lambda::Function") if k.startswith("PersonPatch")]
    assert functions == [patch], functions
    for function in [patch, "PersonEventsFunction"]:
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
    alias_ref = {"Ref": f"{patch}Aliaslive"}
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
    assert list(groups) == [f"{patch}DeploymentGroup"], list(groups)
    group = groups[f"{patch}DeploymentGroup"]["Properties"]
    alarms = [a["Name"] for a in group["AlarmConfiguration"]["Alarms"]]
    for alarm in NEW_VERSION_ALARMS:
        assert {"Ref": alarm} in alarms, f"{alarm} not in {alarms}"
    assert group["AlarmConfiguration"]["Enabled"] is True
    assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
    config = group["DeploymentConfigName"]
    chosen = config["Fn::Sub"][1]["ConfigName"] if isinstance(config, dict) else config
    assert chosen.endswith(parameters["DeploymentType"]), (chosen, parameters["DeploymentType"])
    alias_resource = resources[f"{patch}Aliaslive"]
    assert alias_resource["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"], alias_resource

    # The new-version alarms watch the version being deployed.
    version = [k for k in of_type(resources, "AWS::Lambda::Version") if k.startswith(f"{patch}Version")][0]
    for alarm in ["NewVersionServerErrorAlarm", "NewVersionLatencyAlarm", "NewVersionErrorAlarm"]:
        text = json.dumps(resources[alarm]["Properties"])
        assert json.dumps({"Fn::GetAtt": [version, "Version"]}) in text, alarm

    # Both run on the one least-privilege policy.
    function = resources[patch]["Properties"]
    role = resources[function["Role"]["Fn::GetAtt"][0]]["Properties"]
    assert {"Ref": "PersonPatchAccessPolicy"} in role["ManagedPolicyArns"], role
    assert "Policies" not in role, role

    # Compute and concurrency follow their parameters.
    reserved = function.get("ReservedConcurrentExecutions", {"Ref": "AWS::NoValue"})
    provisioned = alias_resource["Properties"].get(
        "ProvisionedConcurrencyConfig", {"Ref": "AWS::NoValue"}
    )
    if managed:
        capacity = function["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"]
        assert "PersonPatchCapacityProvider" in referenced(capacity["CapacityProviderArn"]), capacity
        assert str(capacity["PerExecutionEnvironmentMaxConcurrency"]) == parameters["ManagedInstancesMaxConcurrency"]
        assert capacity["ExecutionEnvironmentMemoryGiBPerVCpu"] == 2, capacity
        assert function["MemorySize"] == 2048, function["MemorySize"]
        provider = resources["PersonPatchCapacityProvider"]["Properties"]
        assert provider["VpcConfig"]["SubnetIds"] == parameters["ManagedInstancesSubnetIds"], provider
        assert provider["InstanceRequirements"]["Architectures"] == ["arm64"], provider
        assert str(provider["CapacityProviderScalingConfig"]["MaxVCpuCount"]) == str(
            parameters["ManagedInstancesMaxVCpus"]
        ), provider
        assert function["Architectures"] == ["arm64"]
        assert reserved == {"Ref": "AWS::NoValue"} and provisioned == {"Ref": "AWS::NoValue"}
    else:
        assert "CapacityProviderConfig" not in function, function
        assert not of_type(resources, "AWS::Lambda::CapacityProvider")
        if parameters["ReservedConcurrency"]:
            assert str(reserved) == parameters["ReservedConcurrency"], reserved
        else:
            assert reserved == {"Ref": "AWS::NoValue"}, reserved
        if str(parameters["ProvisionedConcurrency"]) != "0":
            assert str(provisioned["ProvisionedConcurrentExecutions"]) == str(
                parameters["ProvisionedConcurrency"]
            ), provisioned
        else:
            assert provisioned == {"Ref": "AWS::NoValue"}, provisioned

    # One dashboard, showing every alarm.
    dashboards = of_type(resources, "AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    body = dashboard_text(list(dashboards.values())[0]["Properties"]["DashboardBody"])
    for alarm in of_type(resources, "AWS::CloudWatch::Alarm"):
        assert "${%s.Arn}" % alarm in body, f"the dashboard lacks {alarm}"
    assert "${%s}" % patch in body, "the dashboard names the function"
    json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    metrics = ["Status5xx", "DynamoDBLatency", "ColdStart", "AuthFailures", "Throttles",
               "EventsPublished", "EventsFailed", "IteratorAge"]
    if managed:
        metrics += ["CPUUtilization", "MemoryUtilization"]
    for metric in metrics:
        assert metric in body, f"the dashboard lacks {metric}"

    compute = (
        f"managed instances ({parameters['ManagedInstancesMaxConcurrency']} at once)"
        if managed else "on demand"
    )
    print(f"template {case}: {len(resources)} resources, {compute}, deployment {chosen}, "
          f"reserved {reserved if parameters['ReservedConcurrency'] and not managed else 'none'}, "
          f"provisioned {0 if managed else parameters['ProvisionedConcurrency']}: ok")


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
