"""The local runner: the whole flow of an execution on this machine, no AWS needed."""
