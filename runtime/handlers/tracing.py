"""The X-Ray tracer of the steps that call AWS APIs through boto3: a subsegment for each
handler call and one for each AWS request, under the trace Lambda records for the invocation.

Only botocore is patched. Powertools' default patches every library the X-Ray SDK knows that is
installed — http.client among them, under botocore, so each AWS request would be traced twice.

The sync step has no tracer: its transfers go through awscrt, which the SDK does not patch, so
all it would add is a subsegment for the handler call — which Lambda's own trace of the
invocation already shows — at the price of the SDK and botocore on every cold start of the step
that runs most often.
"""

from __future__ import annotations

from aws_lambda_powertools.tracing import Tracer

tracer = Tracer(patch_modules=("botocore",))
