"""Using a deployed environment: submit, follow, read the logs of, cancel and list executions.

boto3 only, with every client passed in; the ``demand`` command's functions are in
``runtime.cli.cloud``. Nothing here imports CDK: environments are found by their stack's
outputs (``demand-<env>``).
"""
