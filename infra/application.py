"""Builds the CDK app: one stack per environment listed in cdk.json's context."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Aspects
from cdk_nag import AwsSolutionsChecks

from infra.config import (
    ENVIRONMENTS_CONTEXT_KEY,
    SELECTED_ENVIRONMENT_CONTEXT_KEY,
    load_environments,
)
from infra.lambda_code import BUNDLE_CONTEXT_KEY, build_bundle, parse_bundle_kind
from infra.stacks import DemandStack

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def project_context(cdk_json: Path = CDK_JSON) -> dict[str, Any]:
    """cdk.json's context: what ``python app.py`` uses when the CDK CLI does not pass it."""
    context = json.loads(cdk_json.read_text()).get("context", {})
    if not isinstance(context, dict):
        raise TypeError(f"{cdk_json}: 'context' must be an object")
    return context


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """The app with every selected environment's stack, checked by cdk-nag's AWS Solutions rules.

    Context from the CDK CLI (cdk.json and ``-c``) wins over ``context``, which wins over
    cdk.json read directly.
    """
    app = App(context={**project_context(), **(context or {})}, outdir=outdir)
    settings = load_environments(
        {
            key: app.node.try_get_context(key)
            for key in (ENVIRONMENTS_CONTEXT_KEY, SELECTED_ENVIRONMENT_CONTEXT_KEY)
        }
    )
    bundle = build_bundle(parse_bundle_kind(app.node.try_get_context(BUNDLE_CONTEXT_KEY)))
    for environment in settings:
        DemandStack(app, settings=environment, bundle=bundle)
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app
