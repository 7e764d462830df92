"""Results reused: an execution whose result is already known is not run again (docs/reuse.md).

``key`` decides what a result depends on (pure); ``records`` is what is kept of a result;
``sqlite_records`` / ``dynamodb_records`` keep them; ``outputs`` lists inputs and outputs with
the sync engine's listing, checks a recorded result is still there and copies it; ``lookup``
puts these together for the local runner, ``demand plan`` and the deployed Prepare step.
"""
