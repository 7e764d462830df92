"""``demand report``: what an execution did, where its time went and what it cost.

- ``model.py``: the report's data (what ``--json`` prints), for one execution and a run set;
- ``prices.py``: every price used, dated, with its source; ``cost.py``: the estimate from them;
- ``local.py``: a report from a local run's record; ``deployed.py``: from what AWS records;
- ``runset.py``: many execution reports aggregated; ``html.py``: the self-contained page.

The model, prices, cost, aggregation and page are pure (no boto3, no I/O): import-linter checks.
"""
