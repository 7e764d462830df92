"""The ExecutionPlan: everything needed to run one request, decided before anything runs.

- :mod:`.configuration` — how an environment or a laptop plans (volumes and context settings);
- :mod:`.models` — the plan itself, the one contract every later part reads;
- :mod:`.builder` — ``build_plan(spec, volumes, context)``, pure: no AWS, no file system;
- :mod:`.admission`, :mod:`.script`, :mod:`.job_environment`, :mod:`.batch` — its helpers:
  what this configuration refuses, the job's bash script, the variables split between container
  overrides and an env file, and the Batch API's shapes.
"""
