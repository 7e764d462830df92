"""The contract between the CDK app and the runtime, checked on the synthesized templates.

``runtime/contract.py`` names what both sides must agree on. These tests read what each
template sets, outputs and defines and check it against what the runtime reads, raises and looks
for — so that a name changed on one side only fails here, not in a deployed environment:

- the variables a handler reads are set on every function that runs it, and nothing set is
  unread (a handler reads :class:`DeploymentSettings` if its module uses it, Powertools' if it
  uses the shared logger or tracer);
- the outputs the CLI reads exist;
- every error a Retry or Catch matches is a ``States.*`` error, an error of the service the
  state calls, or an exception class a handler can raise;
- no state is named as the failure handling the CLI skips in older histories; names derived
  from the stack name agree with it.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from infra.constructs import file_system_layout_handler
from infra.constructs.file_system_layout import HANDLER_SOURCE
from runtime import contract
from runtime.cloud.history import FAILURE_HANDLING_STATES
from runtime.cloud.stack import PLANNING_OUTPUTS, REQUIRED_OUTPUTS
from runtime.cloud.stack import stack_name as cli_stack_name
from runtime.deployment import DeploymentSettings
from runtime.errors import DemandError
from runtime.handlers import observability, tracing
from tests.synthesis import ALL_ENVIRONMENTS, Synthesis, resources, state_machine

HANDLER_PACKAGE = "runtime.handlers."
POWERTOOLS_VARIABLES = {contract.ENV_POWERTOOLS_SERVICE_NAME, contract.ENV_POWERTOOLS_LOG_LEVEL}
# The prefix of the errors a service integration reports, by the service in its resource ARN.
SERVICE_ERROR_PREFIXES = {"lambda": "Lambda.", "batch": "Batch."}


# --- reading the template ------------------------------------------------------------------


def _token(value: Any) -> str:
    """A CloudFormation value as text, each reference kept recognisable: ``<GetAtt:Id.Arn>``."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<Ref:{value['Ref']}>"
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"<GetAtt:{logical_id}.{attribute}>"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_token(part) for part in parts)
    raise AssertionError(f"unexpected CloudFormation value {value!r}")


def _step_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The functions that run one of the project's handlers, by logical id."""
    return {
        logical_id: function["Properties"]
        for logical_id, function in resources(template, "AWS::Lambda::Function").items()
        if str(function["Properties"].get("Handler", "")).startswith(HANDLER_PACKAGE)
    }


def _handler_module(function: dict[str, Any]) -> ModuleType:
    module_name, _, _ = str(function["Handler"]).rpartition(".")
    return importlib.import_module(module_name)


def _variables(function: dict[str, Any]) -> dict[str, str]:
    variables = function.get("Environment", {}).get("Variables", {})
    return {name: _token(value) for name, value in variables.items()}


def _all_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, with those inside Parallel branches and Map item processors."""
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _all_states(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is not None:
            yield from _all_states(processor["States"])


def _definition(template: dict[str, Any]) -> dict[str, Any]:
    _, machine = state_machine(template)
    parsed: dict[str, Any] = json.loads(_token(machine["Properties"]["DefinitionString"]))
    return parsed


# --- what the runtime reads and raises -----------------------------------------------------


def _model_variables(model: type[BaseModel]) -> set[str]:
    """The variable each field of a settings model is read from."""
    names = {name: field.alias for name, field in model.model_fields.items()}
    unnamed = [name for name, alias in names.items() if not alias]
    assert not unnamed, f"{model.__name__} fields without a variable (an alias): {unnamed}"
    return {alias for alias in names.values() if alias}


def _uses(module: ModuleType, thing: object) -> bool:
    return any(value is thing for value in vars(module).values())


def _settings_models(module: ModuleType) -> list[type[BaseModel]]:
    """The models a handler reads its variables with: DeploymentSettings, or one of its own
    (a pydantic model with ``from_environment``, each field aliased to its variable)."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and hasattr(value, "from_environment")
    ]


def _variables_read(module: ModuleType) -> set[str]:
    read: set[str] = set()
    for model in _settings_models(module):
        read |= _model_variables(model)
    if _uses(module, observability.logger) or _uses(module, tracing.tracer):
        read |= POWERTOOLS_VARIABLES
    return read


def _subclasses(cls: type[BaseException]) -> Iterator[type[BaseException]]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def _handler_errors(template: dict[str, Any]) -> set[str]:
    """The names of the project's exceptions, once every handler's module is imported."""
    for function in _step_functions(template).values():
        _handler_module(function)
    return {cls.__name__ for cls in _subclasses(DemandError)}


# --- the environment -----------------------------------------------------------------------


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_every_variable_a_handler_reads_is_set_on_its_functions(
    synthesis: Synthesis, environment: str
) -> None:
    functions = _step_functions(synthesis.templates[environment])
    assert functions
    for logical_id, function in functions.items():
        missing = _variables_read(_handler_module(function)) - set(_variables(function))
        assert not missing, f"{logical_id} ({function['Handler']}) lacks {sorted(missing)}"


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_every_variable_set_on_a_step_function_is_read(
    synthesis: Synthesis, environment: str
) -> None:
    functions = _step_functions(synthesis.templates[environment]).values()
    read = set().union(*(_variables_read(_handler_module(function)) for function in functions))
    set_ = set().union(*(_variables(function) for function in functions))
    assert set_ - read == set(), "set on the step functions, read by no handler"


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_deployment_settings_read_the_template_as_deployed(
    synthesis: Synthesis, environment: str
) -> None:
    """Each function's variables make valid settings that agree with the rest of the stack."""
    template = synthesis.templates[environment]
    stack = synthesis.stacks[environment]
    (registration,) = (
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "RegisterUnprivilegedJobDefinitions"
    )
    for function in _step_functions(template).values():
        if not _uses(_handler_module(function), DeploymentSettings):
            continue
        settings = DeploymentSettings.from_environment(_variables(function))
        assert settings.efs_mount_path == Path(contract.LAMBDA_EFS_MOUNT_PATH)
        mounts = [Path(mount["LocalMountPath"]) for mount in function.get("FileSystemConfigs", [])]
        assert mounts in ([], [settings.efs_mount_path])  # where it mounts, it says so
        # The job definitions it registers are named within what its role may register.
        name_prefix = settings.planning().context.name_prefix
        assert name_prefix == stack.stack_name
        assert _token(registration["Resource"]).endswith(
            f":job-definition/{contract.execution_resource_pattern(name_prefix)}"
        )
        # The limits it checks are those of the stack's own queues, each of them.
        queues = {
            queue["Properties"]["JobQueueName"]
            for queue in resources(template, "AWS::Batch::JobQueue").values()
        }
        context = settings.planning().context
        assert set(context.queue_limits) == queues
        assert {context.default_job_queue, context.gpu_job_queue} - {None} <= queues


def test_the_layout_handler_mounts_where_its_function_does(synthesis: Synthesis) -> None:
    (layout,) = (
        function["Properties"]
        for function in resources(synthesis.templates["dev"], "AWS::Lambda::Function").values()
        if function["Properties"].get("Code", {}).get("ZipFile") == HANDLER_SOURCE.read_text()
    )
    (mount,) = layout["FileSystemConfigs"]
    assert mount["LocalMountPath"] == file_system_layout_handler.MOUNT_PATH


# --- the stack -----------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_every_output_the_cli_reads_exists(synthesis: Synthesis, environment: str) -> None:
    outputs = synthesis.templates[environment]["Outputs"]
    missing = [key for key in (*REQUIRED_OUTPUTS, *PLANNING_OUTPUTS) if key not in outputs]
    assert not missing, f"the CLI reads outputs the stack lacks: {missing}"


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_the_prepare_function_output_names_the_function_that_runs_prepare(
    synthesis: Synthesis, environment: str
) -> None:
    """demand plan --env plans with this function's variables: they must be Prepare's."""
    template = synthesis.templates[environment]
    output = _token(template["Outputs"][contract.OUTPUT_PREPARE_FUNCTION_NAME]["Value"])
    (prepare,) = (
        logical_id
        for logical_id, function in _step_functions(template).items()
        if _handler_module(function) is importlib.import_module("runtime.handlers.prepare")
    )
    assert output == f"<Ref:{prepare}>"


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_the_cli_finds_the_stack_and_its_state_machine(
    synthesis: Synthesis, environment: str
) -> None:
    template = synthesis.templates[environment]
    (function, *_) = _step_functions(template).values()
    name = _variables(function)[contract.ENV_ENVIRONMENT]
    assert synthesis.stacks[environment].stack_name == cli_stack_name(name)
    _, machine = state_machine(template)
    assert machine["Properties"]["StateMachineName"] == cli_stack_name(name)


# --- the state machine ---------------------------------------------------------------------


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_no_state_has_the_name_of_an_earlier_definitions_failure_handling(
    synthesis: Synthesis, environment: str
) -> None:
    """The CLI skips those names when it looks for the step that failed (histories of
    executions that ran an earlier definition): a current state of that name would be skipped."""
    names = {
        name for name, _ in _all_states(_definition(synthesis.templates[environment])["States"])
    }
    assert FAILURE_HANDLING_STATES & names == set()


def _errors_a_state_can_report(
    state: dict[str, Any], functions: set[str], handler_errors: set[str]
) -> tuple[set[str], set[str]]:
    """(names, prefixes) of the errors that reach this state's Retry and Catch."""
    resource = str(state.get("Resource", ""))
    if resource.startswith("<GetAtt:") and resource.removeprefix("<GetAtt:").split(".")[0] in (
        functions
    ):
        return handler_errors, {SERVICE_ERROR_PREFIXES["lambda"]}
    if ":states:::" in resource:
        service = resource.split(":states:::", 1)[1].split(":", 1)[0]
        prefix = SERVICE_ERROR_PREFIXES.get(service)
        return set(), {prefix} if prefix is not None else set()
    names: set[str] = set()
    prefixes: set[str] = set()
    for _, inner in _all_states(_nested_states(state)):
        inner_names, inner_prefixes = _errors_a_state_can_report(inner, functions, handler_errors)
        names |= inner_names
        prefixes |= inner_prefixes
    return names, prefixes


def _nested_states(state: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for branch in state.get("Branches", []):
        nested |= branch["States"]
    processor = state.get("ItemProcessor") or state.get("Iterator")
    if processor is not None:
        nested |= processor["States"]
    return nested


@pytest.mark.parametrize("environment", ALL_ENVIRONMENTS)
def test_every_retried_or_caught_error_can_happen(synthesis: Synthesis, environment: str) -> None:
    template = synthesis.templates[environment]
    functions = set(_step_functions(template))
    handler_errors = _handler_errors(template)
    unknown = []
    for name, state in _all_states(_definition(template)["States"]):
        names, prefixes = _errors_a_state_can_report(state, functions, handler_errors)
        for rule in [*state.get("Retry", []), *state.get("Catch", [])]:
            for error in rule["ErrorEquals"]:
                known = (
                    error.startswith("States.")
                    or error in names
                    or any(error.startswith(prefix) for prefix in prefixes)
                )
                if not known:
                    unknown.append(f"{name}: {error}")
    assert not unknown, "errors matched that nothing raises:\n" + "\n".join(unknown)


def test_the_contract_names_errors_the_handlers_raise(synthesis: Synthesis) -> None:
    handler_errors = _handler_errors(synthesis.templates["dev"])
    for error in (contract.ERROR_TRANSIENT_AWS, contract.ERROR_TRANSIENT_SYNC):
        assert error in handler_errors
