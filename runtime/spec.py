"""The DemandExecution request a user submits, and its validation.

The models accept the established DemandExecution JSON shape unchanged. Validation happens in
two passes — the shape (pydantic), then the meaning (references, paths, URIs, names) — and
reports *every* problem at once as a :class:`SpecError`, one line per problem naming its field.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from runtime.documents import field_part, read_document, validate_document
from runtime.errors import SpecError
from runtime.references import (
    VALUE_REFERENCE,
    cycles,
    dependency_graph,
    reaching,
    references_in,
    resolve,
)
from runtime.request_reference import REFERENCE_FIELD

# Tag keys a request may not set, and how many it may (Batch: 50 per job, less the platform's).
RESERVED_TAG_PREFIXES = ("demand:", "aws:")
MAX_USER_TAGS = 40

# ${NAME} in a command argument; the name maps to a variable through env_name.
REFERENCE = re.compile(r"\$\{([^}]*)\}")

# Safe as a directory name, a Step Functions execution name (≤ 80) and part of a Batch job name.
# Patterns are used with fullmatch: "$" alone would also accept a trailing newline.
EXECUTION_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")
ENV_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Bucket naming rules: 3–63 characters of lower-case letters, digits, dots and hyphens.
S3_URI_PATTERN = re.compile(
    r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<key>.*))?", re.DOTALL
)
# A ${NAME} reference as Path.as_uri() quotes it.
_QUOTED_REFERENCE = re.compile(r"%24%7B([A-Za-z0-9_.-]*)%7D")
# Separates the two halves of a "remote @ local" / "local @ remote" parameter value.
PAIR_SEPARATOR = re.compile(r"\s+@\s+")
# What the established serialiser writes into an input's / output's object form.
INPUT_ACTION, OUTPUT_ACTION = "LOCALIZE", "DELOCALIZE"
# Per-input / per-output filters: regular expressions, at most this many of this length each
# (they run against every path of a transfer, in the staging steps).
MAX_FILTER_PATTERNS = 100
MAX_FILTER_PATTERN_LENGTH = 1024
# The older spellings of param_pair_overrides that established requests may still carry
# (aibs-informatics-core DemandExecutionParameters._sanitize_param_pairs): merged into it.
OLDER_PAIR_KEYS = (
    "param_pairs",
    "param_set_pairs",
    "param_set_pair_overrides",
    "input_output_pairs",
    "input_output_pair_overrides",
)

# An image reference, as the distribution project's grammar defines it (what `docker pull`, ECS
# and Batch accept): [domain[:port]/]path[:tag][@digest], path components in lower case.
# https://github.com/distribution/reference/blob/main/regexp.go
_IMAGE_ALNUM = r"[a-z0-9]+"
_IMAGE_SEPARATOR = r"(?:[._]|__|[-]+)"
_IMAGE_PATH_COMPONENT = rf"{_IMAGE_ALNUM}(?:{_IMAGE_SEPARATOR}{_IMAGE_ALNUM})*"
_IMAGE_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IMAGE_DOMAIN = (
    rf"(?:{_IMAGE_DOMAIN_COMPONENT}(?:\.{_IMAGE_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
    r"(?::[0-9]+)?"
)
IMAGE_REFERENCE_PATTERN = re.compile(
    rf"(?P<name>(?:{_IMAGE_DOMAIN}/)?{_IMAGE_PATH_COMPONENT}(?:/{_IMAGE_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<algorithm>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*)"
    r":(?P<hex>[0-9a-fA-F]{32,}))?"
)
# The grammar's other limits: a name of at most 255 characters (NameTotalLengthMax), and a
# digest of a registered algorithm with its exact length (opencontainers/go-digest).
IMAGE_NAME_MAX = 255
IMAGE_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
# Longer than any valid reference: refused before the pattern is tried on it.
IMAGE_REFERENCE_MAX = IMAGE_NAME_MAX + 1 + 128 + 1 + len("sha512:") + 128

# What one job can ask for. A single-container Batch job runs on one instance, so no request
# beyond the largest EC2 instance type can ever be placed: u7i/u7in *.224xlarge, 896 vCPUs and
# up to 32 TiB of memory (https://aws.amazon.com/ec2/instance-types/high-memory/), and
# p2.16xlarge, 16 GPUs (https://aws.amazon.com/ec2/instance-types/p2/). The queues of an
# environment usually launch far smaller instances: see ContextConfiguration.queue_limits.
MAX_VCPUS = 896
MAX_MEMORY_MIB = 32 * 1024 * 1024
MAX_GPUS = 16

# The platform's own files inside a working dir (env file, plan, logs): no parameter goes there.
PLATFORM_DIR = ".demand"

# Variables the platform sets itself; a parameter may not take their names.
RESERVED_ENV_NAMES = frozenset({"EXECUTION_ID", "WORKING_DIR", "TMPDIR", "PATH", "HOME"})
# Variables bash sets or changes as the job script runs: a parameter by one of these names
# would not reach the command with its own value (e.g. ${pwd} would become the working dir).
SHELL_ENV_NAMES = frozenset(
    {
        "_",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "IFS",
        "RANDOM",
        "SRANDOM",
        "SECONDS",
        "LINENO",
        "UID",
        "EUID",
        "PPID",
        "GROUPS",
        "HOSTNAME",
        "HOSTTYPE",
        "MACHTYPE",
        "OSTYPE",
        "OPTIND",
        "OPTARG",
        "OPTERR",
        "PIPESTATUS",
        "EPOCHSECONDS",
        "EPOCHREALTIME",
        "SHELLOPTS",
        "BASHOPTS",
        "FUNCNAME",
        "DIRSTACK",
        "HISTCMD",
        "PS4",
        "BASH",
        "BASHPID",
    }
)

# Any JSON value; its form is checked by meaning, so that errors name the parameter plainly.
ParamValue = Any


def env_name(param_name: str) -> str:
    """The environment variable that carries a parameter: upper case, ``-`` and ``.`` → ``_``."""
    return param_name.upper().replace("-", "_").replace(".", "_")


class _Model(BaseModel):
    # Unknown fields are errors: a typo must not silently drop a setting. Established requests
    # may spell fields in camelCase (executionParameters); both spellings are accepted.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=False,
        loc_by_alias=False,
        defer_build=True,
    )


def _none_as(default: Any) -> BeforeValidator:
    # The established serialiser writes null for a field it leaves at its default.
    return BeforeValidator(lambda value: default() if value is None else value)


class ExecutionParameters(_Model):
    command: Annotated[list[str], _none_as(list)] = Field(default_factory=list)
    params: Annotated[dict[str, ParamValue], _none_as(dict)] = Field(default_factory=dict)
    # Named as in params, or by environment name ("PARAM_IN" for "param-in"), as established
    # requests may; stored by the name params uses.
    inputs: Annotated[list[str], _none_as(list)] = Field(default_factory=list)
    outputs: Annotated[list[str], _none_as(list)] = Field(default_factory=list)
    output_s3_prefix: str | None = None
    # Accepted so that established requests validate unchanged; not used by this platform.
    outputs_metadata: Annotated[dict[str, dict[str, Any]], _none_as(dict)] = Field(
        default_factory=dict
    )
    param_pair_overrides: list[dict[str, Any]] | None = None
    verbosity: bool = False

    @model_validator(mode="before")
    @classmethod
    def _older_pair_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        merged: list[Any] = []
        for key in ("param_pair_overrides", *OLDER_PAIR_KEYS):
            for spelling in (key, to_camel(key)):
                value = data.pop(spelling, None)
                if isinstance(value, list):
                    merged += value
                elif value is not None:
                    # Not a list: let the field's own check name the problem.
                    data["param_pair_overrides"] = value
                    return data
        if merged:
            data["param_pair_overrides"] = merged
        return data

    @model_validator(mode="after")
    def _listed_by_parameter_name(self) -> ExecutionParameters:
        by_variable: dict[str, str] = {}
        for name in self.params:
            by_variable.setdefault(env_name(name), name)

        def named(names: list[str]) -> list[str]:
            found = (n if n in self.params else by_variable.get(env_name(n), n) for n in names)
            return list(dict.fromkeys(found))

        inputs, outputs = named(self.inputs), named(self.outputs)
        if (inputs, outputs) == (self.inputs, self.outputs):
            return self
        return self.model_copy(update={"inputs": inputs, "outputs": outputs})


def _count(value: object) -> object:
    # pydantic takes true for 1 in an int field; in a resource it is a mistake, not a count.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a whole number, not a boolean")
    if isinstance(value, float) and value.is_integer():
        return int(value)  # so that 1e30 is refused by the bound, as 10**30 is
    return value


# A whole number: 4, and as established requests may write it, 4.0 or "4"; never true / false.
Count = Annotated[int, BeforeValidator(_count)]


class ResourceRequirements(_Model):
    # null, and 0 for vcpus / memory, mean the default, as in the established model (which
    # drops them before validating).
    vcpus: Count = Field(default=1, gt=0, le=MAX_VCPUS)
    memory: Count = Field(default=1024, gt=0, le=MAX_MEMORY_MIB, description="MiB")
    gpu: Count = Field(default=0, ge=0, le=MAX_GPUS)

    @model_validator(mode="before")
    @classmethod
    def _unset_means_default(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return {
            key: value
            for key, value in data.items()
            if not (value is None or (type(value) in (int, float) and value == 0))
        }


class AwsBatchPlatform(_Model):
    job_queue_name: str | None = None
    job_role: str | None = None


class ExecutionPlatform(_Model):
    aws_batch: AwsBatchPlatform | None = None


def _tags_from_text(value: object) -> object:
    """``"a=b,c"`` or ``["a=b", "c"]`` (the established ``tag`` form): a bare key is its own
    value, as the established model makes it."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list) and all(
        isinstance(item, str | int) and not isinstance(item, bool) for item in value
    ):
        parts = (part for item in value for part in str(item).split(",") if part.strip())
        pairs = (part.partition("=") for part in parts)
        return {key.strip(): (text.strip() if sep else key.strip()) for key, sep, text in pairs}
    return value


# The statuses notify_on may name: the established request's (aibs-informatics-core's Status)
# and Step Functions' ends. Only the ends are ever notified (runtime.steps.notify).
NotifyStatus = Literal[
    "AWAITING_TRIGGER",
    "SUBMITTED",
    "IN_PROGRESS",
    "COMPLETED",
    "FAILED",
    "ABORTED",
    "SUCCEEDED",
    "TIMED_OUT",
]
# Who to tell: an e-mail address or any label a subscription filters on; it travels in an SNS
# message attribute, so it is short and has no control characters.
Recipient = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")
]
MAX_RECIPIENTS = 20


class ExecutionMetadata(_Model):
    user: str | None = None
    tags: Annotated[dict[str, str], _none_as(dict)] = Field(default_factory=dict)
    # Accepted so that established requests validate unchanged; not used by this platform.
    arn: str | None = None
    # Which ends to tell notify_list about (empty: every end); docs/deploy.md, Notifications.
    notify_on: Annotated[dict[NotifyStatus, bool], _none_as(dict)] = Field(default_factory=dict)
    notify_list: Annotated[list[Recipient], _none_as(list)] = Field(
        default_factory=list, max_length=MAX_RECIPIENTS
    )

    @model_validator(mode="before")
    @classmethod
    def _older_tag(cls, data: Any) -> Any:
        # The established "tag" (deprecated there): merged into tags, tags winning.
        if not isinstance(data, Mapping) or "tag" not in data:
            return data
        data = dict(data)
        tag = _tags_from_text(data.pop("tag"))
        if not isinstance(tag, dict):
            data["tag"] = tag  # refused by name: not a "k=v,k" text or list
            return data
        tags = _tags_from_text(data.get("tags"))
        if tags is None or isinstance(tags, dict):
            data["tags"] = tag | (tags or {})
        return data

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_as_text(cls, value: object) -> object:
        return _tags_from_text(value)


class ExecutionOptions(_Model):
    """What a request may choose for its own execution, within the limits its environment sets
    (checked at planning: runtime.plan.admission). Unset: the environment's own setting."""

    isolate_inputs: bool | None = None
    keep_working_dir_on_failure: bool | None = None
    env_file_mode: Literal["NEVER", "ALWAYS", "IF_REQUIRED"] | None = None
    timeout_seconds: Count | None = Field(default=None, ge=60)
    retry_attempts: Count | None = Field(default=None, ge=1, le=10)
    # False: run even when the result is already known (docs/reuse.md); true: only where the
    # environment reuses results.
    reuse: bool | None = None


class DemandExecution(_Model):
    """One request: run ``execution_image`` with ``execution_parameters`` on demand."""

    execution_type: str = "custom"
    execution_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    execution_image: str = Field(min_length=1)
    execution_parameters: ExecutionParameters
    resource_requirements: ResourceRequirements = Field(default_factory=ResourceRequirements)
    execution_platform: ExecutionPlatform = Field(default_factory=ExecutionPlatform)
    execution_metadata: ExecutionMetadata = Field(default_factory=ExecutionMetadata)
    execution_options: ExecutionOptions = Field(default_factory=ExecutionOptions)


class InputBinding(_Model):
    """An input parameter: ``remote`` (s3:// or file://) staged to ``local`` (or the cache).

    ``include`` / ``exclude``: regular expressions, matched against the whole path relative to
    ``remote`` (the established semantics: a path is taken when it matches some include — or
    none are given — and no exclude)."""

    name: str
    env_name: str
    remote: str
    local: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


class OutputBinding(_Model):
    """An output parameter: ``local`` (under the working dir) uploaded to ``remote``, filtered
    by ``include`` / ``exclude`` as an input is."""

    name: str
    env_name: str
    local: str
    remote: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


# --- loading ---------------------------------------------------------------------------------


def load_spec_file(path: Path) -> DemandExecution:
    """Read a JSON or YAML spec file and validate it.

    A relative ``file://`` URI (``file://data/x``) is taken relative to the spec file's own
    directory, so that a spec and its local data can travel together.
    """
    data = read_document(path, SpecError)
    if isinstance(data, Mapping):
        data = with_relative_files_resolved(data, path.parent.resolve())
    return parse_spec(data)


def with_relative_files_resolved(data: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """``data`` (a request document) with each relative ``file://`` location of its inputs,
    outputs and output prefix made absolute under ``base``."""

    def resolve(uri: Any) -> Any:
        if isinstance(uri, str) and uri.startswith("file://") and not uri.startswith("file:///"):
            absolute = (base / uri.removeprefix("file://")).as_uri() + (
                "/" if uri.endswith("/") else ""
            )
            # as_uri() quotes "${name}" too: a reference must stay one, to be resolved later.
            return _QUOTED_REFERENCE.sub(r"${\1}", absolute)
        return uri

    def resolve_value(value: Any) -> Any:
        if isinstance(value, str):
            return " @ ".join(resolve(half) for half in PAIR_SEPARATOR.split(value.strip(), 1))
        if isinstance(value, dict):
            # Only the location: a filter is a regular expression, never a URI.
            return {key: resolve(item) if key == "remote" else item for key, item in value.items()}
        return value

    result = dict(data)
    for key in ("execution_parameters", "executionParameters"):
        parameters = result.get(key)
        if not isinstance(parameters, Mapping):
            continue
        parameters = dict(parameters)
        # Inputs and outputs may be listed by environment name ("PARAM_IN" for "param-in").
        staged = {
            env_name(name)
            for field in ("inputs", "outputs")
            for name in (parameters.get(field) or [])
            if isinstance(name, str)
        }
        params = parameters.get("params")
        if isinstance(params, Mapping):
            parameters["params"] = {
                name: resolve_value(value) if env_name(str(name)) in staged else value
                for name, value in params.items()
            }
        for prefix in ("output_s3_prefix", "outputS3Prefix"):
            if prefix in parameters:
                parameters[prefix] = resolve(parameters[prefix])
        result[key] = parameters
    return result


def json_kind(value: object) -> str:
    """What a parsed document's value is, in the words of JSON and YAML (not Python's)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def parse_spec(data: object) -> DemandExecution:
    """Validate a parsed spec; raise :class:`SpecError` listing every problem."""
    if data is None:
        raise SpecError(["spec: the document is empty (a request is an object of fields)"])
    if not isinstance(data, Mapping):
        raise SpecError([f"spec: expected an object at the top level, got {json_kind(data)}"])
    if REFERENCE_FIELD in data:
        # An execution's input, copied: only a deployed environment's Prepare reads what it
        # refers to (runtime.steps.stored_request).
        raise SpecError(
            [
                f"{REFERENCE_FIELD}: this refers to a request stored for a deployed execution; "
                f"run the request itself (aws s3 cp {_shown(data[REFERENCE_FIELD])} request.json)"
            ]
        )
    spec = validate_document(DemandExecution, data, SpecError)
    problems = spec_problems(spec)
    if problems:
        raise SpecError(problems)
    return spec


def _shown(value: object) -> str:
    """A reference's URI for a message: a short printable word as it is, anything else not."""
    if isinstance(value, str) and len(value) <= 300 and value.isprintable() and " " not in value:
        return value
    return "URI"


# --- meaning ---------------------------------------------------------------------------------


def spec_problems(spec: DemandExecution) -> list[str]:
    """Every problem with a shape-valid spec, one line each (empty when the spec is valid)."""
    problems: list[str] = []
    params = spec.execution_parameters
    where = "execution_parameters"

    if not EXECUTION_ID_PATTERN.fullmatch(spec.execution_id):
        problems.append(
            "execution_id: must be 1–80 letters, digits, '-' or '_', starting with a letter or "
            f"digit, got {spec.execution_id!r}"
        )
    problem = image_reference_problem(spec.execution_image)
    if problem:
        problems.append(f"execution_image: {problem}")
    if not params.command or not params.command[0].strip():
        problems.append(f"{where}.command: no command given")
    # A process's arguments and environment are C strings: a NUL cannot reach the job.
    problems += [
        f"{where}.command[{index}]: contains a NUL character"
        for index, argument in enumerate(params.command)
        if "\x00" in argument
    ]
    problems += [
        f"{where}.params{field_part(name)}: contains a NUL character"
        for name, value in params.params.items()
        if isinstance(value, str) and "\x00" in value
    ]

    problems += _name_problems(params)
    problems += _reference_problems(params)
    value_problems = _value_reference_problems(params)
    problems += value_problems
    texts = staged_value_texts(params) if not value_problems else {}
    for name in params.inputs:
        try:
            if name in params.params:
                input_binding(name, params.params[name], texts.get)
        except ValueError as exc:
            problems.append(f"{where}.params{field_part(name)}: {exc}")
    for name in params.outputs:
        try:
            if name in params.params:
                output_binding(name, params.params[name], params.output_s3_prefix, texts.get)
        except ValueError as exc:
            problems.append(f"{where}.params{field_part(name)}: {exc}")
    if params.output_s3_prefix is not None:
        problem = remote_uri_problem(params.output_s3_prefix)
        if problem:
            problems.append(f"{where}.output_s3_prefix: {problem}")
    tags = spec.execution_metadata.tags
    for key, value in tags.items():
        field = f"execution_metadata.tags{field_part(key)}"
        if not 1 <= len(key) <= 128 or len(value) > 256:
            problems.append(f"{field}: keys take 1–128 characters, values up to 256")
        elif key.lower().startswith(RESERVED_TAG_PREFIXES):
            # The platform's own tags decide who may stop a job; AWS refuses aws: keys.
            problems.append(f"{field}: tags starting with demand: or aws: are the platform's")
    if len(tags) > MAX_USER_TAGS:
        problems.append(
            f"execution_metadata.tags: at most {MAX_USER_TAGS} tags (Batch takes 50 per job, "
            "and the platform adds its own)"
        )
    return problems


def _name_problems(params: ExecutionParameters) -> list[str]:
    problems: list[str] = []
    where = "execution_parameters"
    for field, names in (("inputs", params.inputs), ("outputs", params.outputs)):
        for name in names:
            if name not in params.params:
                problems.append(f"{where}.{field}: {name!r} is not in params")
    both = set(params.inputs) & set(params.outputs)
    for name in sorted(both):
        problems.append(f"{where}.outputs: {name!r} is listed as an input too")

    seen: dict[str, str] = {}
    for name in params.params:
        variable = env_name(name)
        field = f"{where}.params{field_part(name)}"
        if not ENV_NAME_PATTERN.fullmatch(variable):
            problems.append(f"{field}: {variable!r} is not a valid environment variable name")
        elif variable in RESERVED_ENV_NAMES:
            problems.append(f"{field}: {variable} is set by the platform")
        elif variable in SHELL_ENV_NAMES or variable.startswith(("BASH_", "COMP_")):
            problems.append(f"{field}: {variable} is set by the shell the job runs in")
        elif variable in seen:
            problems.append(f"{field}: same environment variable {variable} as {seen[variable]!r}")
        seen.setdefault(variable, name)
    return problems


def _reference_problems(params: ExecutionParameters) -> list[str]:
    known = {env_name(name) for name in params.params} | RESERVED_ENV_NAMES
    problems = []
    for index, argument in enumerate(params.command):
        for reference in REFERENCE.findall(argument):
            if env_name(reference) not in known:
                problems.append(
                    f"execution_parameters.command[{index}]: ${{{reference}}} names no parameter"
                )
    return problems


def _value_references(value: ParamValue, staged: bool) -> list[str]:
    """The names a parameter's value refers to: in an input's or output's location halves
    (never in its filters, whose regular expressions may hold ``${``), else in its text."""
    if not staged:
        return references_in(param_text(value))
    if isinstance(value, str):
        return references_in(value)
    if isinstance(value, dict):
        return [
            name
            for key in ("remote", "local")
            if isinstance(value.get(key), str)
            for name in references_in(value[key])
        ]
    return []


def _value_graph(params: ExecutionParameters) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    staged = {*params.inputs, *params.outputs}
    references = {
        name: _value_references(value, name in staged) for name, value in params.params.items()
    }
    return dependency_graph(references, env_name)


def _value_reference_problems(params: ExecutionParameters) -> list[str]:
    where = "execution_parameters.params"
    edges, missing = _value_graph(params)
    problems = [
        f"{where}{field_part(name)}: ${{{reference}}} names no parameter"
        for name, references in missing.items()
        for reference in references
    ]
    in_cycle: set[str] = set()
    for group in cycles(edges):
        in_cycle.update(group)
        if len(group) == 1:
            problems.append(f"{where}{field_part(group[0])}: its value refers to itself")
        else:
            problems.append(
                f"{where}: {', '.join(map(repr, group))} refer to one another in a cycle"
            )
    # An input's or output's location is resolved before any path is known: it may refer to
    # plain parameters only (what it would get otherwise is a path inside another volume).
    staged = [name for name in params.params if name in {*params.inputs, *params.outputs}]
    leads_to = reaching(edges, staged)
    problems += [
        f"{where}{field_part(name)}: an input's or output's value may refer only to plain "
        f"parameters, and this one leads to {leads_to[name]!r}"
        for name in staged
        if name in leads_to and name not in in_cycle
    ]
    return problems


def staged_value_texts(params: ExecutionParameters) -> dict[str, str]:
    """The resolved texts an input's or output's location may refer to: the plain parameters
    that lead to no input or output (the only ones such a location may name)."""
    staged = {*params.inputs, *params.outputs}
    edges, _ = _value_graph(params)
    leads_to = reaching(edges, staged)
    texts = {
        name: param_text(value)
        for name, value in params.params.items()
        if name not in staged and name not in leads_to
    }
    return resolve(texts, {}, env_name)


def param_texts(params: ExecutionParameters, paths: Mapping[str, str]) -> dict[str, str]:
    """Every plain parameter's value as its variable carries it, references resolved;
    ``paths`` gives each input's and output's container path (what a reference to it gets)."""
    staged = {*params.inputs, *params.outputs}
    texts = {name: param_text(value) for name, value in params.params.items() if name not in staged}
    return resolve(texts, paths, env_name)


def image_reference_problem(image: str) -> str | None:
    """Why ``image`` is not a container image reference (``name``, ``registry:5000/a/b:tag``,
    ``name@sha256:...``) that a registry could resolve."""
    shown = repr(image) if len(image) <= 80 else repr(image[:80]) + "…"
    expected = "[registry[:port]/]name[:tag][@digest], the name in lower case"
    match = IMAGE_REFERENCE_PATTERN.fullmatch(image) if len(image) <= IMAGE_REFERENCE_MAX else None
    if match is None:
        return f"not an image reference ({expected}), got {shown}"
    if len(match["name"]) > IMAGE_NAME_MAX:
        return f"image name longer than {IMAGE_NAME_MAX} characters, got {shown}"
    if match["algorithm"] is not None:
        length = IMAGE_DIGEST_HEX_LENGTHS.get(match["algorithm"])
        if length is None:
            known = ", ".join(sorted(IMAGE_DIGEST_HEX_LENGTHS))
            return f"unknown digest algorithm {match['algorithm']!r} (known: {known})"
        if len(match["hex"]) != length:
            return f"a {match['algorithm']} digest has {length} hex digits, got {shown}"
    return None


# --- bindings --------------------------------------------------------------------------------


def remote_uri_problem(uri: str) -> str | None:
    """Why ``uri`` is not a usable remote location (``s3://bucket/key`` or ``file:///path``)."""
    if uri.startswith("s3://"):
        match = S3_URI_PATTERN.fullmatch(uri)
        if match is None or ".." in match["bucket"]:
            return f"malformed S3 URI {uri!r} (expected s3://bucket/key)"
        return None
    if uri.startswith("file://"):
        if not uri.removeprefix("file://").startswith("/"):
            return f"file URI must be absolute (file:///path), got {uri!r}"
        return None
    return f"expected an s3:// or file:// URI, got {uri!r}"


def remote_name(uri: str) -> str:
    """The last segment of a remote: ``s3://b/dir/`` and ``s3://b/dir`` are both ``dir``; a
    bucket root is named after its bucket. Staged inputs keep this name."""
    return PurePosixPath(uri.split("://", 1)[1].rstrip("/")).name


def remote_name_problem(uri: str) -> str | None:
    if remote_name(uri) in {"", ".", ".."}:
        return f"{uri!r} names no object or prefix (its last segment is empty, '.' or '..')"
    return None


def local_path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a place under the working directory."""
    posix = PurePosixPath(path)
    if not path.strip() or path.strip() in {".", "./"}:
        return "local path is empty"
    if posix.is_absolute():
        return f"local path {path!r} must be relative to the working directory"
    if ".." in posix.parts:
        return f"local path {path!r} escapes the working directory"
    if posix.parts[0] == PLATFORM_DIR:
        return f"local path {path!r} is inside {PLATFORM_DIR}/, which the platform keeps for itself"
    if "\x00" in path:
        return "local path contains a NUL character"
    return None


# Looks up a plain parameter's resolved text by name (None: no such resolved text).
TextOf = Callable[[str], str | None]


def _no_texts(name: str) -> str | None:
    return None


def _resolved(half: str | None, text_of: TextOf) -> str | None:
    """``half`` with its references to plain parameters replaced by their resolved texts (a
    reference without one is left as written: refused as a value problem already)."""
    if half is None:
        return None
    return VALUE_REFERENCE.sub(lambda match: _text_for(match, text_of), half)


def _text_for(match: re.Match[str], text_of: TextOf) -> str:
    text = text_of(match[1])
    return match[0] if text is None else text


def filter_patterns(value: object, key: str) -> tuple[str, ...]:
    """An ``include`` / ``exclude`` value (a pattern, a list of them, or null) as patterns,
    each a regular expression Python (as the established system) compiles."""
    if value is None or value == "":
        return ()
    patterns = [value] if isinstance(value, str) else value
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"{key!r} must be a regular expression or a list of them")
    if len(patterns) > MAX_FILTER_PATTERNS:
        raise ValueError(f"{key!r} takes at most {MAX_FILTER_PATTERNS} patterns")
    for index, pattern in enumerate(patterns):
        if len(pattern) > MAX_FILTER_PATTERN_LENGTH:
            raise ValueError(
                f"{key}[{index}] is longer than {MAX_FILTER_PATTERN_LENGTH} characters"
            )
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{key}[{index}] is not a regular expression: {exc}") from None
    return tuple(patterns)


@dataclass(frozen=True)
class _Pair:
    first: str | None
    second: str | None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


def _pair(value: ParamValue, first: str, second: str, action: str) -> _Pair:
    """Split ``"a @ b"`` / ``{first: a, second: b, include, exclude, action}`` / ``"a"``."""
    if isinstance(value, str):
        halves = PAIR_SEPARATOR.split(value.strip(), maxsplit=1)
        return _Pair(halves[0], halves[1] if len(halves) == 2 else None)
    if isinstance(value, dict):
        unknown = set(value) - {first, second, "include", "exclude", "action"}
        if unknown:
            raise ValueError(
                f"unknown keys {sorted(unknown)} (expected {first!r}, {second!r}, 'include', "
                "'exclude', 'action')"
            )
        a, b = value.get(first), value.get(second)
        if not all(isinstance(v, str | None) for v in (a, b)):
            raise ValueError(f"{first!r} and {second!r} must be strings")
        if value.get("action", action) != action:
            # The established models refuse the other direction's action too.
            raise ValueError(f"'action' must be {action!r} here, got {value['action']!r}")
        return _Pair(
            a,
            b,
            filter_patterns(value.get("include"), "include"),
            filter_patterns(value.get("exclude"), "exclude"),
        )
    raise ValueError(f"expected a string or an object, got {type(value).__name__}")


def input_binding(name: str, value: ParamValue, text_of: TextOf = _no_texts) -> InputBinding:
    """``"s3://b/k"``, ``"s3://b/k @ local/name"`` or ``{"remote": ..., "local": ...}`` (with
    ``include`` / ``exclude`` filters); references resolved through ``text_of``."""
    pair = _pair(value, "remote", "local", INPUT_ACTION)
    remote, local = _resolved(pair.first, text_of), _resolved(pair.second, text_of)
    if not remote:
        raise ValueError("an input needs a remote URI")
    problem = remote_uri_problem(remote) or remote_name_problem(remote)
    if problem is None and local is not None:
        problem = local_path_problem(local)
    if problem:
        raise ValueError(problem)
    return InputBinding(
        name=name,
        env_name=env_name(name),
        remote=remote,
        local=local,
        include=pair.include,
        exclude=pair.exclude,
    )


def output_binding(
    name: str, value: ParamValue, output_prefix: str | None, text_of: TextOf = _no_texts
) -> OutputBinding:
    """``"local/name"``, ``"local/name @ s3://b/k"`` or ``{"local": ..., "remote": ...}`` (with
    ``include`` / ``exclude`` filters); references resolved through ``text_of``."""
    pair = _pair(value, "local", "remote", OUTPUT_ACTION)
    local, remote = _resolved(pair.first, text_of), _resolved(pair.second, text_of)
    if not local:
        raise ValueError("an output needs a local path")
    problem = local_path_problem(local)
    if problem:
        raise ValueError(problem)
    if remote is None:
        if output_prefix is None:
            raise ValueError("an output needs a destination: give one or set output_s3_prefix")
        remote = output_prefix.rstrip("/") + "/" + str(PurePosixPath(local))
    problem = remote_uri_problem(remote)
    if problem:
        raise ValueError(problem)
    return OutputBinding(
        name=name,
        env_name=env_name(name),
        local=local,
        remote=remote,
        include=pair.include,
        exclude=pair.exclude,
    )


def input_bindings(spec: DemandExecution) -> list[InputBinding]:
    params = spec.execution_parameters
    texts = staged_value_texts(params)
    return [input_binding(name, params.params[name], texts.get) for name in params.inputs]


def output_bindings(spec: DemandExecution) -> list[OutputBinding]:
    params = spec.execution_parameters
    texts = staged_value_texts(params)
    return [
        output_binding(name, params.params[name], params.output_s3_prefix, texts.get)
        for name in params.outputs
    ]


def param_text(value: ParamValue) -> str:
    """A plain parameter's value as its environment variable carries it, before references
    are resolved. true / false / null become ``True`` / ``False`` / ``None``, as the established
    system renders them (commands test for those strings); lists and objects become JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | None):
        return str(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec, for editors: every field under both spellings the models
    accept (``execution_id`` and ``executionId``, never both), and the older keys too."""
    schema = DemandExecution.model_json_schema(by_alias=False)
    definitions: dict[str, dict[str, Any]] = schema.get("$defs", {})
    parameters = definitions.get(ExecutionParameters.__name__, {}).get("properties", {})
    for key in OLDER_PAIR_KEYS:
        parameters[key] = {**parameters["param_pair_overrides"], "title": key, "deprecated": True}
    metadata = definitions.get(ExecutionMetadata.__name__, {}).get("properties", {})
    metadata["tag"] = {
        "title": "tag",
        "description": '"k=v,k" or a list of such: merged into tags, tags winning',
        "anyOf": [
            {"type": ["string", "integer"]},
            {"type": "array", "items": {"type": ["string", "integer"]}},
        ],
        "deprecated": True,
    }
    for node in [schema, *definitions.values()]:
        _with_camel_spellings(node)
    return schema


def _with_camel_spellings(node: dict[str, Any]) -> None:
    properties: dict[str, Any] = node.get("properties", {})
    spellings = {name: to_camel(name) for name in properties if to_camel(name) != name}
    for name, camel in spellings.items():
        properties[camel] = properties[name]
    rules: list[dict[str, Any]] = [
        {"anyOf": [{"required": [name]}, {"required": [spellings[name]]}]}
        if name in spellings
        else {"required": [name]}
        for name in node.pop("required", [])
    ]
    rules += [{"not": {"required": [name, camel]}} for name, camel in spellings.items()]
    if rules:
        node["allOf"] = rules
