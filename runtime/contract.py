"""The names that ``infra/`` (the CDK app) and ``runtime/`` must agree on, in one place.

Names only: no logic beyond a format, and nothing but the standard library, so that the CDK app
may import this module without importing any runtime logic. Each group says who writes the name
and who reads it; ``tests/infra/test_contract.py`` checks the synthesized template against the
runtime, so renaming a name here renames it on both sides, and a copy that drifts fails a test.
"""

from __future__ import annotations

from typing import Final

# --- The Lambda steps' environment -----------------------------------------------------------
# Set on every step function by infra/constructs/functions.py; read by
# runtime.deployment.DeploymentSettings (one field per variable).
VARIABLE_PREFIX: Final = "DEMAND_"
ENV_ENVIRONMENT: Final = "DEMAND_ENVIRONMENT"
ENV_FILE_SYSTEM_ID: Final = "DEMAND_FILE_SYSTEM_ID"
ENV_SHARED_ACCESS_POINT_ID: Final = "DEMAND_SHARED_ACCESS_POINT_ID"
ENV_USE_TMP_VOLUME: Final = "DEMAND_USE_TMP_VOLUME"  # "true": each execution's TMPDIR on /tmp
# The buckets stage-in may read and stage-out may write, comma-separated.
ENV_ALLOWED_BUCKETS: Final = "DEMAND_ALLOWED_BUCKETS"
ENV_EFS_MOUNT_PATH: Final = "DEMAND_EFS_MOUNT_PATH"
# "true": stage-out mirrors each output's destination (ContextConfiguration.mirror_outputs).
ENV_MIRROR_OUTPUTS: Final = "DEMAND_MIRROR_OUTPUTS"
ENV_DEFAULT_JOB_QUEUE: Final = "DEMAND_DEFAULT_JOB_QUEUE"
ENV_GPU_JOB_QUEUE: Final = "DEMAND_GPU_JOB_QUEUE"  # empty when the environment has no GPU queue
ENV_DEFAULT_JOB_ROLE_ARN: Final = "DEMAND_DEFAULT_JOB_ROLE_ARN"
# The largest instance each job queue can launch, as a JSON object by queue name, each value
# {"vcpus": int | null, "memory": int | null, "gpu": int | null} (MiB; null: not known, so not
# checked): runtime.plan.configuration.QueueLimits.
ENV_QUEUE_LIMITS: Final = "DEMAND_QUEUE_LIMITS"
# The bucket whose requests prefix holds the requests too large to start an execution with
# inline (REQUESTS_PREFIX below): the data bucket. Only Prepare's role may read them.
ENV_REQUEST_BUCKET: Final = "DEMAND_REQUEST_BUCKET"
# The notification function's topic (runtime.handlers.notify): the environment's SNS topic.
ENV_NOTIFICATION_TOPIC_ARN: Final = "DEMAND_NOTIFICATION_TOPIC_ARN"
# The cache pruning function's bounds (runtime.handlers.cache_prune): an entry unused for more
# than this many days is removed; with a budget, the least recently used beyond it too.
ENV_CACHE_MAX_UNUSED_DAYS: Final = "DEMAND_CACHE_MAX_UNUSED_DAYS"
ENV_CACHE_SIZE_BUDGET_GIB: Final = "DEMAND_CACHE_SIZE_BUDGET_GIB"  # empty: no size budget
# How the environment plans each execution: runtime.plan.configuration.ContextConfiguration's
# field of the same name (cdk.json's "planning" settings, infra/config.py PlanningSettings).
ENV_ISOLATE_INPUTS: Final = "DEMAND_ISOLATE_INPUTS"
ENV_CLEANUP_INPUTS: Final = "DEMAND_CLEANUP_INPUTS"
ENV_CLEANUP_WORKING_DIR: Final = "DEMAND_CLEANUP_WORKING_DIR"
ENV_KEEP_WORKING_DIR_ON_FAILURE: Final = "DEMAND_KEEP_WORKING_DIR_ON_FAILURE"
ENV_ENV_FILE_MODE: Final = "DEMAND_ENV_FILE_MODE"
ENV_ENV_SIZE_LIMIT: Final = "DEMAND_ENV_SIZE_LIMIT"
ENV_PRIVILEGED: Final = "DEMAND_PRIVILEGED"
ENV_RETRY_ATTEMPTS: Final = "DEMAND_RETRY_ATTEMPTS"
ENV_TIMEOUT_SECONDS: Final = "DEMAND_TIMEOUT_SECONDS"
ENV_JOB_TAGS: Final = "DEMAND_JOB_TAGS"  # a JSON object of tag key -> value
# The most a request may choose in its execution_options.
ENV_MAX_TIMEOUT_SECONDS: Final = "DEMAND_MAX_TIMEOUT_SECONDS"
ENV_MAX_RETRY_ATTEMPTS: Final = "DEMAND_MAX_RETRY_ATTEMPTS"
ENV_REQUESTS_MAY_ISOLATE_INPUTS: Final = "DEMAND_REQUESTS_MAY_ISOLATE_INPUTS"
ENV_REQUESTS_MAY_KEEP_WORKING_DIR: Final = "DEMAND_REQUESTS_MAY_KEEP_WORKING_DIR"
# Results reused (docs/reuse.md): "true" / "false" (ContextConfiguration.reuse), how many days a
# record is kept (reuse_ttl_days), and the environment's table of records (Prepare reads it,
# Cleanup writes it).
ENV_REUSE: Final = "DEMAND_REUSE"
ENV_REUSE_TTL_DAYS: Final = "DEMAND_REUSE_TTL_DAYS"
ENV_REUSE_TABLE: Final = "DEMAND_REUSE_TABLE"
# DEMAND_* variables that runtime.deployment does not read, each read elsewhere (a handler of
# its own, the sync engine, the local runner, the CLI): list a new one here. Any other DEMAND_*
# variable on a step is a mistake (a typo, a removed setting) and is refused.
OTHER_VARIABLE_PREFIXES: Final = ("DEMAND_SYNC_",)  # runtime.sync.settings
OTHER_VARIABLES: Final = frozenset(
    {
        ENV_NOTIFICATION_TOPIC_ARN,
        ENV_CACHE_MAX_UNUSED_DAYS,
        ENV_CACHE_SIZE_BUDGET_GIB,
        "DEMAND_SANDBOX",
        "DEMAND_ENV",
    }
)
# Read by Powertools' Logger and Tracer (runtime.handlers.observability).
ENV_POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_LOG_LEVEL: Final = "POWERTOOLS_LOG_LEVEL"

# Where the step functions mount the whole file system (an access point rooted at "/").
LAMBDA_EFS_MOUNT_PATH: Final = "/mnt/efs"
# The POSIX user every access point acts as — the steps' (infra/constructs/storage.py) and each
# execution's own (runtime.steps.access_points) — so what one writes the others can remove.
EFS_POSIX_UID: Final = 1000
EFS_POSIX_GID: Final = 1000

# --- The stack -------------------------------------------------------------------------------
# The CloudFormation stack of an environment, also the name of its state machine and the prefix
# of the job definitions its steps register (and that its roles may register and submit).
STACK_NAME_FORMAT: Final = "demand-{environment}"


def stack_name(environment: str) -> str:
    """``demand-<environment>``: see :data:`STACK_NAME_FORMAT`."""
    return STACK_NAME_FORMAT.format(environment=environment)


# What one execution owns in Batch (its job definition and job) is named "<prefix>_<id>". An
# environment's name holds no "_", so "demand-dev_*" never matches environment dev-eu's names.
EXECUTION_NAME_SEPARATOR: Final = "_"


def execution_resource_name(prefix: str, execution_id: str) -> str:
    """The job definition and job name of one execution: ``<prefix>_<execution id>``."""
    return f"{prefix}{EXECUTION_NAME_SEPARATOR}{execution_id}"


def execution_resource_pattern(prefix: str) -> str:
    """Every execution's resource name under ``prefix`` (an IAM resource pattern)."""
    return f"{prefix}{EXECUTION_NAME_SEPARATOR}*"


# --- Stored requests -------------------------------------------------------------------------
# A request too large to be an execution's input inline is stored by `demand submit`
# (runtime.cloud.requests) in the environment's data bucket at REQUESTS_PREFIX + "<execution
# id>.json", and the execution starts with a small reference to it; Prepare (runtime.steps.
# stored_request) reads it from there only, and only its own execution's. The data bucket's
# lifecycle rule (infra/constructs/storage.py) expires each after REQUEST_RETENTION_DAYS: longer
# than Step Functions lets an execution be redriven (14 days after it ended), the only other
# time its Prepare may run again.
REQUESTS_PREFIX: Final = "requests/"
REQUEST_RETENTION_DAYS: Final = 30


def request_key(execution_id: str) -> str:
    """The key of an execution's stored request: ``requests/<execution id>.json``."""
    return f"{REQUESTS_PREFIX}{execution_id}.json"


# The stack's outputs, by output key (infra/stacks.py). runtime.cloud.stack reads some of them;
# docs/deploy.md lists them all for the people who deploy and use an environment.
OUTPUT_STATE_MACHINE_ARN: Final = "StateMachineArn"
OUTPUT_DATA_BUCKET_NAME: Final = "DataBucketName"
OUTPUT_FILE_SYSTEM_ID: Final = "FileSystemId"
OUTPUT_JOB_QUEUE_NAME: Final = "JobQueueName"
OUTPUT_ON_DEMAND_JOB_QUEUE_NAME: Final = "OnDemandJobQueueName"
OUTPUT_GPU_JOB_QUEUE_NAME: Final = "GpuJobQueueName"  # only when the environment has GPUs
OUTPUT_DEFAULT_JOB_ROLE_ARN: Final = "DefaultJobRoleArn"
OUTPUT_JOB_LOG_GROUP_NAME: Final = "JobLogGroupName"
# The Prepare step's function: its environment is the deployment's planning settings, which
# `demand plan --env` reads to plan exactly as Prepare does.
OUTPUT_PREPARE_FUNCTION_NAME: Final = "PrepareFunctionName"
# The SNS topic every execution's end is published to (only when notifications are on).
OUTPUT_NOTIFICATION_TOPIC_ARN: Final = "NotificationTopicArn"
# The function that lists and prunes the shared input cache (`demand cache ... --env`).
OUTPUT_CACHE_PRUNE_FUNCTION_NAME: Final = "CachePruneFunctionName"

# The run-set state machine (infra/constructs/run_sets.py), and its limits: the most rows of a
# set it runs at once and the most failures it tolerates before it stops (the environment's
# run_sets settings; `demand submit --table` asks within them). Read when present: a stack
# deployed before run sets serves everything else.
OUTPUT_RUN_SET_STATE_MACHINE_ARN: Final = "RunSetStateMachineArn"
OUTPUT_RUN_SET_MAX_CONCURRENCY: Final = "RunSetMaxConcurrency"
OUTPUT_RUN_SET_TOLERATED_FAILURE_PERCENTAGE: Final = "RunSetToleratedFailurePercentage"

# --- Run sets --------------------------------------------------------------------------------
# Where `demand submit --table` puts a set's manifests in the data bucket
# (<prefix><set id>/attempt-<N>/manifest.json and rows.json), and the Distributed Map its
# results (<prefix>results/<map run id>/).
RUN_SET_PREFIX: Final = "demand-run-sets/"
# The run-set state machine's name: the environment's state machine's, and this.
RUN_SET_STATE_MACHINE_SUFFIX: Final = "-sets"
# Its states that runtime.cloud.run_sets looks for.
STATE_ROWS: Final = "Rows"
STATE_RUN_ROW: Final = "Run row"
# The error of an input outside the environment's limits.
ERROR_RUN_SET_REFUSED: Final = "RunSetRefused"

# --- The state machine -----------------------------------------------------------------------
# States that handled a failure inside the execution in the state machine's earlier definitions
# (before failures were left to end the execution, so that it can be redriven): the current one
# has neither, but runtime.cloud and runtime.report still read the histories of executions that
# ran those definitions (Step Functions keeps them 90 days).
STATE_CLEANUP_AFTER_FAILURE: Final = "Cleanup after failure"
STATE_FAIL: Final = "Fail"

# The ends that run no cleanup state: a step failed (no state catches it, so that the execution
# can be redriven from that step), an abort (demand cancel, the console, StopExecution) or the
# state machine's timeout. An EventBridge rule on them (infra/constructs/stopped_cleanup.py)
# invokes runtime.handlers.stopped at once, to terminate the execution's Batch job, and again
# through an SQS queue after STOPPED_CLEANUP_DELAY_SECONDS, to clean up what it left, unless
# it was redriven since: by then no Lambda step the execution started can still be writing (the
# longest, Sync, times out after 15 minutes; 900 s is also the longest delivery delay SQS
# allows). The delay is also the redrive window: runtime.cloud.retry reads it, since a redrive
# must start before the cleanup runs.
UNSUCCESSFUL_STATUSES: Final = ("FAILED", "ABORTED", "TIMED_OUT")
STOPPED_CLEANUP_DELAY_SECONDS: Final = 900

# Jobs that cannot start. For each RUNNABLE reason that means "not soon" and that Batch's
# job-state time-limit actions accept (Batch user guide, "Automatic remediation with
# jobStateTimeLimitActions"), the field of infra.config.RunnableTimeLimits that says how long a
# job may wait before its queue cancels it (infra/constructs/compute.py). The cancelled job's
# status reason is CANCELLED_BY_TIME_LIMIT + the reason, which the failure cleanup turns into
# the execution's error ERROR_JOB_COULD_NOT_START, with a cause that says what to change
# (runtime.steps.failure). MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS, ACTION_REQUIRED and
# UNDETERMINED take no time-limit action: for those the job's own time limit is the bound.
RUNNABLE_TIME_LIMIT_REASONS: Final = {
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY": "insufficient_instance_capacity",
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE": "compute_environment_max_resource",
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT": "job_resource_requirement",
    "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED": (
        "ec2_instance_configuration_unsupported"
    ),
}
CANCELLED_BY_TIME_LIMIT: Final = "Canceled by JobStateTimeLimit action due to reason: "
ERROR_JOB_COULD_NOT_START: Final = "JobCouldNotStart"

# Errors the state machine retries with backoff when a Lambda step raises them. Step Functions
# matches a Lambda's error by the exception's class name: each is the name of a class in
# runtime.errors or runtime.sync.errors.
ERROR_TRANSIENT_AWS: Final = "TransientAwsError"
ERROR_TRANSIENT_SYNC: Final = "TransientSyncError"


# --- Reuse records ---------------------------------------------------------------------------
# The DynamoDB table of an environment's reuse records (infra/constructs/reuse_records.py):
# partition key REUSE_KEY_ATTRIBUTE (a string); DynamoDB's TTL deletes an item once the epoch
# seconds in REUSE_TTL_ATTRIBUTE have passed (runtime.reuse.dynamodb_records writes both).
REUSE_KEY_ATTRIBUTE: Final = "reuse_key"
# The state machine's Choice after Prepare, and the end it takes when Prepare reused a result.
STATE_REUSED_CHOICE: Final = "Reused?"
STATE_REUSED: Final = "Reused"
REUSE_TTL_ATTRIBUTE: Final = "expires_at"
