"""CDK entry point: the ``demand-<env>`` stack of every environment listed in cdk.json.

``cdk synth`` / ``cdk deploy`` run this file; ``-c env=NAME`` picks one environment. It also runs
on its own (``python app.py``), reading cdk.json's context itself, with no AWS credentials.
"""

from __future__ import annotations

import sys

from infra.application import build_app
from infra.config import EnvironmentSettingsError
from infra.lambda_code import BundleError


def main() -> None:
    try:
        app = build_app()
    except (EnvironmentSettingsError, BundleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    app.synth()


if __name__ == "__main__":
    main()
