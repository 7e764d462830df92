"""Run sets: one request template and a table of rows make many requests.

``tables`` reads a table (CSV, TSV, or a YAML / JSON list); ``expansion`` makes and validates
the rows' requests and their ids. Plain functions: no AWS, no command line, no runner.
"""
