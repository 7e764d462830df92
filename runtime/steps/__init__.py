"""The steps of one execution as plain functions: the Lambda handlers and the local runner
call these, in the order of the state machine (prepare, stage in + register, run, stage out,
clean up)."""
