"""Lambda functions: what code runs, as whom, with which layers, and who may invoke it.

State: ``exists``; ``code_sha256``; ``runtime``; ``role`` (the execution role); ``layers`` (layer version
ARNs, in order); ``environment_variable_names`` (sorted names; values are never kept, and CloudTrail
hides them anyway); ``resource_policy`` {statement id: statement}.

Lambda logs its calls with an API version suffix (``UpdateFunctionCode20150331v2``); ``call_name`` strips
it. Responses describe the whole function configuration, so every response that carries a member is an
observation of it. CloudTrail hides environment variables (``environment`` is logged as ``{}``), so names
are taken only when ``environment.variables`` is logged as an object; a request that sets the environment
without showing it makes the names UNKNOWN. Permissions added for a version or alias (``qualifier``) are
kept with the function's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trailbeam.projections.base import Event, document, keep, request, response, table_projection, text
from trailbeam.projections.state import EMPTY, UNKNOWN, State, freeze, with_member, without_member

if TYPE_CHECKING:
    from trailbeam.resources import ResourceRef

__all__ = ["FUNCTION"]


def _variable_names(environment: Any) -> tuple[str, ...] | None:
    variables = environment.get("variables") if isinstance(environment, Mapping) else None
    return tuple(sorted(str(name) for name in variables)) if isinstance(variables, Mapping) else None


def _layers(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    arns = [layer if isinstance(layer, str) else text(layer, "arn") for layer in value]
    return tuple(arn for arn in arns if arn is not None)


def _configured(state: State, event: Event) -> State:
    """The configuration members the request set, then those the response shows (the response wins)."""
    changes: dict[str, Any] = {}
    params, result = request(event), response(event)
    for body in (params, result):
        for member, field in (("runtime", "runtime"), ("role", "role")):
            if text(body, member) is not None:
                changes[field] = text(body, member)
        if (layers := _layers(body.get("layers"))) is not None:
            changes["layers"] = layers
    if text(result, "codeSha256") is not None:
        changes["code_sha256"] = text(result, "codeSha256")
    if "environment" in params:
        names = _variable_names(params.get("environment"))
        changes["environment_variable_names"] = UNKNOWN if names is None else names
    if (names := _variable_names(result.get("environment"))) is not None:
        changes["environment_variable_names"] = names
    return state.update(changes)


def _create(state: State, event: Event, ref: ResourceRef) -> State:
    return _configured(state.update({"resource_policy": EMPTY, "layers": (), "environment_variable_names": ()}),
                       event)


def _update_configuration(state: State, event: Event, ref: ResourceRef) -> State:
    return _configured(state, event)


def _update_code(state: State, event: Event, ref: ResourceRef) -> State:
    # New code always has a new hash: without one in the response the hash is no longer known.
    return _configured(state.set("code_sha256", UNKNOWN), event)


def _add_permission(state: State, event: Event, ref: ResourceRef) -> State:
    params = request(event)
    sid = text(params, "statementId")
    if sid is None:
        return state
    logged = response(event).get("statement")
    statement = (document(logged) if logged is not None else
                 freeze({key: params[key] for key in sorted(params)
                         if key not in ("functionName", "statementId")}))
    return with_member(state, "resource_policy", sid, statement)


def _remove_permission(state: State, event: Event, ref: ResourceRef) -> State:
    sid = text(request(event), "statementId")
    return state if sid is None else without_member(state, "resource_policy", sid)


def _function_name(event: Event) -> str | None:
    """functionName as a bare name: it may be logged as a name, an ARN or a partial ARN (account:function:name)."""
    name = text(request(event), "functionName") or text(response(event), "functionName")
    if name is None:
        return None
    if "function:" in name:
        return name.split("function:", 1)[1].split(":", 1)[0]
    return name


FUNCTION = table_projection(
    resource_type="AWS::Lambda::Function",
    description="Lambda function: code hash, runtime, role, layers, environment variable names, resource policy",
    fields=("exists", "code_sha256", "runtime", "role", "layers", "environment_variable_names", "resource_policy"),
    creates=("CreateFunction",),
    deletes=("DeleteFunction",),
    target=_function_name,
    updates={
        "CreateFunction": _create,
        "DeleteFunction": keep,
        "UpdateFunctionCode": _update_code,
        "UpdateFunctionConfiguration": _update_configuration,
        "AddPermission": _add_permission,
        "RemovePermission": _remove_permission,
    },
)

