"""The `demand` command line: every piece of terminal code (typer, rich) lives here."""
