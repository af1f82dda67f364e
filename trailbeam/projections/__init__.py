"""Resource projections: the state of one AWS resource, rebuilt by replaying its CloudTrail events.

The event store is an event-sourced log. A *projection* folds the successful calls on one resource into
its state, so the state at any moment is a replay away (``trailbeam.history``), and so is the change each
call made. Failed calls (``errorCode`` present) never reach a reducer; histories keep them as attempts.

State (``state.py``): an immutable ``FrozenMap`` of field -> JSON-shaped value. Every field starts as
``UNKNOWN`` (rendered ``{"$unknown": true}`` by ``to_json``): a log window opens on resources that already
existed, so "never observed" is kept apart from "empty" or "off". Collections seen only through changes are
partial (they hold ``OTHERS``). ``diff(before, after)`` lists the changed field paths.

Built-in projections (``DEFAULT``), one table of eventName -> update per resource type:

    AWS::IAM::User, AWS::IAM::Role                    iam.py
    AWS::S3::Bucket                                   s3.py
    AWS::EC2::SecurityGroup, ::Snapshot, ::Image      ec2.py
    AWS::CloudTrail::Trail                            cloudtrail.py
    AWS::KMS::Key                                     kms.py
    AWS::Lambda::Function                             lambda_.py
    AWS::SecretsManager::Secret, AWS::SSM::Parameter  secrets.py
    anything else                                     generic.py (last requestParameters per call)

Extension point: write a reducer ``(state, event, ref) -> state`` (pure: return a new state, never
mutate), wrap it in a ``Projection`` naming its resource type and fields, and register it in a copy of
``DEFAULT`` (which is locked, so that launcher and Beam workers cannot disagree about what it holds)::

    from trailbeam.projections import DEFAULT, Projection
    from trailbeam.history import build_history

    def instance_state(state, event, ref):
        if event["eventName"] in ("StartInstances", "StopInstances"):
            for item in event["responseElements"]["instancesSet"]["items"]:
                if ref.arn.endswith("/" + item["instanceId"]):
                    return state.set("state", item["currentState"]["name"])
        return state

    registry = DEFAULT.copy().register(Projection(
        resource_type="AWS::EC2::Instance", reducer=instance_state, fields=("state",),
        description="EC2 instance: running state"))
    history = build_history(ref, events, registry=registry)

The pipeline and ``trailbeam histories`` take the same projections by name: ``--projections
my_projections:INSTANCE`` (repeatable; a module installed where the pipeline runs, e.g. with the package
shipped to Dataflow workers); ``load_registry`` does the loading.

For a family of calls, ``table_projection`` builds the same thing from an eventName -> update table, as
the built-ins do. Keep reducers module-level functions (or frozen dataclass instances): Beam pickles them.
"""

from __future__ import annotations

from trailbeam.projections import cloudtrail, ec2, iam, kms, lambda_, s3, secrets
from trailbeam.projections.base import (
    Projection, Reducer, Registry, call_name, is_failed, load_registry, table_projection,
)
from trailbeam.projections.generic import GENERIC
from trailbeam.projections.state import (
    OTHERS, UNKNOWN, Change, FrozenMap, State, diff, freeze, is_partial, to_json,
)

__all__ = ["BUILTINS", "DEFAULT", "GENERIC", "OTHERS", "UNKNOWN", "Change", "FrozenMap", "Projection", "Reducer",
           "Registry", "State", "call_name", "default_registry", "diff", "freeze", "is_failed", "is_partial",
           "load_registry", "table_projection", "to_json"]

BUILTINS: tuple[Projection, ...] = (
    iam.USER, iam.ROLE, s3.BUCKET, ec2.SECURITY_GROUP, ec2.SNAPSHOT, ec2.IMAGE, cloudtrail.TRAIL, kms.KEY,
    lambda_.FUNCTION, secrets.SECRET, secrets.PARAMETER,
)


def default_registry() -> Registry:
    """A new, unlocked registry holding the built-in projections, with ``GENERIC`` as the fallback."""
    return Registry(BUILTINS, fallback=GENERIC)


DEFAULT: Registry = Registry(BUILTINS, fallback=GENERIC, locked=True)
