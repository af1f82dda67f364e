"""Tests of trailbeam.history: ordering, replay, failed calls, determinism and custom projections.

Histories are built from real Stratus Red Team records (one file's events of one resource), plus
hand-built calls in a real record's envelope where a story needs a call the fixtures lack.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

import fixturedata
from trailbeam import timestamps
from trailbeam.history import ResourceChange, build_history, diff_between, ordered_events, replay, state_at
from trailbeam.projections import DEFAULT, GENERIC, OTHERS, UNKNOWN, Change, Projection, State, call_name, to_json
from trailbeam.projections.base import items, request, response
from trailbeam.resources import ResourceRef

U = {"$unknown": True}
ABSENT = {"$absent": True}
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def records(stem: str) -> list[dict[str, Any]]:
    return copy.deepcopy(fixturedata.records_in(fixturedata.STRATUS / f"{stem}.json"))


def at(text: str) -> int:
    return timestamps.parse_micros(text)


def call(event_name: str, event_id: str, when: str, request: Any, response: Any = None, **extra: Any) -> dict[str, Any]:
    """A documented call inside the envelope of the real CreateUser record of iam-create-admin-user."""
    event = next(r for r in records("aws.persistence.iam-create-admin-user") if r["eventName"] == "CreateUser")
    event.update(eventName=event_name, eventID=event_id, eventTime=when, requestParameters=request,
                 responseElements=response, **extra)
    return event


# ---- a real story: Stratus "iam-create-admin-user" -------------------------------------------------------------

ADMIN_USER = ResourceRef(arn="arn:aws:iam::229654561268:user/malicious-iam-user", type="AWS::IAM::User",
                         account="229654561268", region=None)
ADMIN_EVENTS = records("aws.persistence.iam-create-admin-user")      # AttachUserPolicy, CreateAccessKey, CreateUser
CREATED = at("2024-08-01T13:33:28Z")


def test_real_story_history():
    history = build_history(ADMIN_USER, ADMIN_EVENTS)
    # All three calls share one second. By eventID alone AttachUserPolicy (083d...) would replay before
    # CreateUser (3346...), and CreateUser's empty collections would erase the Admin policy.
    assert [(c.event_name, c.event_id) for c in history] == [
        ("CreateUser", "3346344c-5a3e-429e-8405-420f98f75d6e"),
        ("AttachUserPolicy", "083dc4ad-e264-46bc-a407-d0dd31b58bdc"),
        ("CreateAccessKey", "94faedcc-0fa4-46e6-9322-022e8e934f04"),
    ]
    created, attached, keyed = history
    assert created == ResourceChange(
        resource_arn=ADMIN_USER.arn, resource_type="AWS::IAM::User", event_time=CREATED,
        event_id="3346344c-5a3e-429e-8405-420f98f75d6e", event_name="CreateUser", event_source="iam.amazonaws.com",
        principal="arn:aws:iam::229654561268:user/christophe", origin=None, source_ip="075.050.255.67",
        user_agent="stratus-red-team_6bf00313-712c-4fd2-9bdd-88f48a4b1282", error_code=None, applied=True,
        changes=(
            Change(("access_keys",), U, {}), Change(("attached_policies",), U, {}), Change(("exists",), U, True),
            Change(("groups",), U, {}), Change(("inline_policies",), U, {}), Change(("login_profile",), U, False),
            Change(("mfa_devices",), U, {}), Change(("permissions_boundary",), U, None),
        ))
    assert attached.changes == (Change(("attached_policies", ADMIN), ABSENT, True),)
    assert keyed.changes == (Change(("access_keys", "AKIAXAFZN8JEPF6L682H"), ABSENT, "Active"),)


def test_real_story_final_state():
    assert to_json(replay(ADMIN_USER, ADMIN_EVENTS)) == {
        "exists": True, "attached_policies": {ADMIN: True}, "access_keys": {"AKIAXAFZN8JEPF6L682H": "Active"},
        "groups": {}, "inline_policies": {}, "login_profile": False, "mfa_devices": {}, "permissions_boundary": None,
    }


# ---- failed calls --------------------------------------------------------------------------------------------

LOGIN_USER = ResourceRef(arn="arn:aws:iam::070411556318:user/stratus-red-team-login-profile-user",
                         type="AWS::IAM::User", account="070411556318", region=None)


def test_failed_call_is_recorded_but_not_applied():
    # Real: CreateLoginProfile, then a DeleteLoginProfile refused while the profile was being created.
    events = [r for r in records("aws.persistence.iam-create-user-login-profile") if r["eventSource"] == "iam.amazonaws.com"]
    history = build_history(LOGIN_USER, events)
    assert [(c.event_name, c.applied, c.error_code) for c in history] == [
        ("CreateLoginProfile", True, None),
        ("DeleteLoginProfile", False, "EntityTemporarilyUnmodifiableException"),
    ]
    assert history[0].changes == (Change(("exists",), U, True), Change(("login_profile",), U, True))
    assert history[1].changes == ()
    assert replay(LOGIN_USER, events)["login_profile"] is True


def test_failed_call_from_aws_docs():
    trail = ResourceRef(arn="arn:aws:cloudtrail:us-east-2:123456789012:trail/myTrail2", type="AWS::CloudTrail::Trail",
                        account="123456789012", region="us-east-2")
    event = fixturedata.fixture_record("awsdocs_extracted_examples.json", 16)
    [change] = build_history(trail, [event])
    assert (change.event_name, change.applied, change.error_code, change.changes) == (
        "UpdateTrail", False, "TrailNotFoundException", ())


# ---- unknown before the first event, and untouched fields ---------------------------------------------------

def test_state_before_the_first_event_is_unknown():
    projection = DEFAULT.for_type("AWS::IAM::User")
    before = state_at(ADMIN_USER, ADMIN_EVENTS, CREATED - 1)
    assert before == projection.initial() and all(value is UNKNOWN for value in before.values())
    assert replay(ADMIN_USER, []) == projection.initial()
    assert build_history(ADMIN_USER, []) == []


def test_untouched_fields_stay_unknown():
    attach_only = [e for e in ADMIN_EVENTS if e["eventName"] == "AttachUserPolicy"]
    state = replay(ADMIN_USER, attach_only)
    assert state["exists"] is True
    assert to_json(state["attached_policies"]) == {ADMIN: True, OTHERS: U}     # other policies: not observed
    for name in ("inline_policies", "groups", "access_keys", "login_profile", "mfa_devices", "permissions_boundary"):
        assert state[name] is UNKNOWN, name


# ---- ordering, duplicates, determinism ---------------------------------------------------------------------

GROUP = ResourceRef(arn="arn:aws:ec2:us-northeast-1r:032092706103:security-group/sg-003dc7f1f1c686164",
                    type="AWS::EC2::SecurityGroup", account="032092706103", region="us-northeast-1r")
SG_ID = "sg-003dc7f1f1c686164"


def _world_open(event_id: str, when: str, port: int) -> dict[str, Any]:
    return call("AuthorizeSecurityGroupIngress", event_id, when, {"groupId": SG_ID, "ipPermissions": {"items": [
        {"ipProtocol": "tcp", "fromPort": port, "toPort": port, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
        eventSource="ec2.amazonaws.com")


# A security group's day: created, opened on 22 (the real Stratus record), 443 and 3389 in the same second,
# a failed attempt, a revoke by rule id, a revoke by permission, and a deletion in the same second as a revoke.
SG_EVENTS = [
    call("CreateSecurityGroup", "e-create", "2024-08-01T12:00:00Z", {"groupName": "web"},
         {"_return": True, "groupId": SG_ID}, eventSource="ec2.amazonaws.com"),
    *records("aws.exfiltration.ec2-security-group-open-port-22-ingress"),            # 2024-08-01T12:23:55Z
    _world_open("e-443", "2024-08-01T12:30:00Z", 443),
    _world_open("e-3389", "2024-08-01T12:30:00Z", 3389),
    {**_world_open("e-denied", "2024-08-01T12:31:00Z", 5432), "errorCode": "Client.UnauthorizedOperation"},
    call("RevokeSecurityGroupIngress", "e-revoke-id", "2024-08-01T12:40:00Z",
         {"groupId": SG_ID, "securityGroupRuleIds": {"items": [{"securityGroupRuleId": "sgr-09b3e3d2ca1edf2a2"}]}},
         eventSource="ec2.amazonaws.com"),
    call("RevokeSecurityGroupIngress", "z-revoke-443", "2024-08-01T12:50:00Z", {"groupId": SG_ID, "ipPermissions": {
        "items": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                   "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}, eventSource="ec2.amazonaws.com"),
    call("DeleteSecurityGroup", "a-delete", "2024-08-01T12:50:00Z", {"groupId": SG_ID}, eventSource="ec2.amazonaws.com"),
]


def test_security_group_story():
    history = build_history(GROUP, SG_EVENTS)
    assert [(c.event_id[:12], c.applied, [str(x) for x in c.changes]) for c in history] == [
        ("e-create", True, ['egress: {"$unknown":true} -> {"all all 0.0.0.0/0":null}',
                            'exists: {"$unknown":true} -> true', 'ingress: {"$unknown":true} -> {}']),
        ("9fd68588-ecb", True, ['ingress["tcp 22 0.0.0.0/0"]: {"$absent":true} -> "sgr-09b3e3d2ca1edf2a2"']),
        ("e-3389", True, ['ingress["tcp 3389 0.0.0.0/0"]: {"$absent":true} -> null']),
        ("e-443", True, ['ingress["tcp 443 0.0.0.0/0"]: {"$absent":true} -> null']),
        ("e-denied", False, []),
        ("e-revoke-id", True, ['ingress["tcp 22 0.0.0.0/0"]: "sgr-09b3e3d2ca1edf2a2" -> {"$absent":true}']),
        # Same second: the revoke replays before the delete, whatever their eventIDs say.
        ("z-revoke-443", True, ['ingress["tcp 443 0.0.0.0/0"]: null -> {"$absent":true}']),
        ("a-delete", True, ['exists: true -> false']),
    ]


def test_state_at_and_diff_between():
    opened = state_at(GROUP, SG_EVENTS, at("2024-08-01T12:30:00Z"))      # inclusive of events at that time
    assert to_json(opened["ingress"]) == {"tcp 22 0.0.0.0/0": "sgr-09b3e3d2ca1edf2a2", "tcp 3389 0.0.0.0/0": None,
                                          "tcp 443 0.0.0.0/0": None}
    assert state_at(GROUP, SG_EVENTS, at("2024-08-01T12:29:59Z"))["ingress"] == {
        "tcp 22 0.0.0.0/0": "sgr-09b3e3d2ca1edf2a2"}
    assert [str(c) for c in diff_between(GROUP, SG_EVENTS, at("2024-08-01T12:30:00Z"), at("2024-08-01T13:00:00Z"))] == [
        'exists: true -> false',
        'ingress["tcp 22 0.0.0.0/0"]: "sgr-09b3e3d2ca1edf2a2" -> {"$absent":true}',
        'ingress["tcp 443 0.0.0.0/0"]: null -> {"$absent":true}',
    ]


@pytest.mark.parametrize("name, transform", [
    ("reversed", lambda events: events[::-1]),
    ("duplicated", lambda events: events + copy.deepcopy(events)),
    ("reversed-and-duplicated", lambda events: copy.deepcopy(events[::-1]) + events),
])
def test_order_and_duplicates_do_not_matter(name, transform):
    assert build_history(GROUP, transform(list(SG_EVENTS))) == build_history(GROUP, SG_EVENTS)
    assert replay(GROUP, transform(list(SG_EVENTS))) == replay(GROUP, SG_EVENTS)


def test_replay_is_deterministic_under_shuffles():
    events = SG_EVENTS + copy.deepcopy(SG_EVENTS[:3])       # with copies of three events
    expected_history = build_history(GROUP, SG_EVENTS)
    expected_states = [to_json(state_at(GROUP, SG_EVENTS, at(e["eventTime"]))) for e in SG_EVENTS]
    for seed in range(20):
        shuffled = list(events)
        random.Random(seed).shuffle(shuffled)
        assert build_history(GROUP, shuffled) == expected_history, seed
        assert [to_json(state_at(GROUP, shuffled, at(e["eventTime"]))) for e in SG_EVENTS] == expected_states, seed


def test_conflicting_copies_of_one_event_id_resolve_the_same_whatever_the_order():
    first = _world_open("same-id", "2024-08-01T12:30:00Z", 443)
    second = _world_open("same-id", "2024-08-01T12:30:00Z", 8443)
    assert build_history(GROUP, [first, second]) == build_history(GROUP, [second, first])
    assert len(build_history(GROUP, [first, second])) == 1


def test_event_without_event_id_is_an_error():
    event = fixturedata.fixture_record("awsdocs_extracted_examples.json", 14)      # an old example without eventID
    with pytest.raises(ValueError, match="eventID"):
        build_history(ResourceRef(arn="arn:aws:iam::123456789012:user/Bob", type="AWS::IAM::User",
                                  account="123456789012", region=None), [event])


def test_ordered_events_phase_orders_same_second_calls():
    ordered = ordered_events(ADMIN_EVENTS, DEFAULT.for_type("AWS::IAM::User"))
    assert [e["eventName"] for e in ordered] == ["CreateUser", "AttachUserPolicy", "CreateAccessKey"]
    # The generic projection knows no creates or deletes: time, then eventID.
    assert [e["eventName"] for e in ordered_events(ADMIN_EVENTS, GENERIC)] == [
        "AttachUserPolicy", "CreateUser", "CreateAccessKey"]


def test_event_for_another_resource_is_listed_without_changes():
    # A rule added to sg-0peer, grouped under GROUP (say it referenced GROUP): GROUP's rules do not change.
    other = {**_world_open("e-peer", "2024-08-01T13:00:00Z", 80),
             "requestParameters": {"groupId": "sg-0peer", "ipPermissions": {"items": [
                 {"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "groups": {"items": [{"groupId": SG_ID}]}}]}}}
    [change] = build_history(GROUP, [other])
    assert change.applied and change.changes == ()


# ---- the extension point: a custom projection, and the worked example for the README ---------------------

INSTANCE = ResourceRef(arn="arn:aws:ec2:us-east-1:309303190113:instance/i-DDd6c7B0e18F0E35f",
                       type="AWS::EC2::Instance", account="309303190113", region="us-east-1")


def instance_state(state: State, event: Any, ref: ResourceRef) -> State:
    """Worked example: an EC2 instance's run state, and whether its user data was replaced.

    Stratus "ec2-user-data" stops an instance, replaces its user data (a boot script: code execution on
    next start) and starts it again. CloudTrail hides the new user data, but not that it changed.
    """
    name = call_name(event)      # eventName without an API-version suffix
    if name in ("StartInstances", "StopInstances"):
        for item in items(response(event).get("instancesSet")):
            if ref.arn.endswith("/" + item["instanceId"]):
                return state.set("state", item["currentState"]["name"])
    if name == "ModifyInstanceAttribute" and "userData" in request(event):
        return state.set("user_data_replaced", True)
    return state


INSTANCE_PROJECTION = Projection(
    resource_type="AWS::EC2::Instance", reducer=instance_state, fields=("state", "user_data_replaced"),
    description="EC2 instance: run state and user data replacement")

USER_DATA_EVENTS = [r for r in records("aws.execution.ec2-user-data")
                    if r["eventName"] in ("StopInstances", "ModifyInstanceAttribute", "StartInstances")]


def test_worked_example_custom_projection():
    registry = DEFAULT.copy().register(INSTANCE_PROJECTION)
    history = build_history(INSTANCE, USER_DATA_EVENTS, registry=registry)
    assert [(c.event_name, [str(x) for x in c.changes]) for c in history] == [
        ("StopInstances", ['state: {"$unknown":true} -> "stopping"']),
        ("ModifyInstanceAttribute", ['user_data_replaced: {"$unknown":true} -> true']),
        ("StartInstances", ['state: "stopping" -> "pending"']),
    ]
    assert to_json(replay(INSTANCE, USER_DATA_EVENTS, registry=registry)) == {
        "state": "pending", "user_data_replaced": True}


def test_without_registration_the_generic_projection_applies():
    state = replay(INSTANCE, USER_DATA_EVENTS)
    assert sorted(state["calls"]) == ["ModifyInstanceAttribute", "StartInstances", "StopInstances"]
    assert to_json(state["calls"]["ModifyInstanceAttribute"]) == {
        "instanceId": "i-DDd6c7B0e18F0E35f", "userData": "<sensitiveDataRemoved>"}


def test_custom_projection_never_sees_failed_calls():
    seen: list[str] = []

    def recording(state: State, event: Any, ref: ResourceRef) -> State:
        seen.append(event["eventID"])
        return state

    registry = DEFAULT.copy().register(Projection(resource_type="AWS::EC2::Instance", reducer=recording,
                                                  description="records calls"))
    failed = {**USER_DATA_EVENTS[0], "eventID": "failed", "errorCode": "Client.UnauthorizedOperation"}
    history = build_history(INSTANCE, [*USER_DATA_EVENTS, failed], registry=registry)
    assert "failed" not in seen and len(seen) == 3
    assert [c.applied for c in history if c.event_id == "failed"] == [False]
