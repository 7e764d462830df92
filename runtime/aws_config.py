"""Where AWS requests go: the profile, the region and the endpoint, resolved in one order for
every ``demand`` command, the Lambda steps and the sync engine alike.

The order is the AWS CLI's, with ``AWS_REGION`` (what Lambda and Batch set, and what the AWS
SDKs other than botocore read) before ``AWS_DEFAULT_REGION``:

- profile: ``AWS_PROFILE``, then ``AWS_DEFAULT_PROFILE``, then ``default``;
- region: ``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then the profile's ``region`` in
  ``AWS_CONFIG_FILE`` (``~/.aws/config``);
- endpoint: ``AWS_ENDPOINT_URL_<SERVICE>``, then ``AWS_ENDPOINT_URL``, then the profile's
  ``endpoint_url`` — none of them when ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is true.

The command line's ``--profile``, ``--region`` and ``--endpoint-url`` set these variables for
the command (runtime/cli/cloud.py), so a flag comes first. Plain standard library: the sync
engine's own command starts without importing botocore.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from pathlib import Path

from runtime.errors import ConfigError

PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"
IGNORE_ENDPOINTS_VARIABLE = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def profile_name(environ: Mapping[str, str] | None = None) -> str:
    env = _environ(environ)
    return next((env[name] for name in PROFILE_VARIABLES if env.get(name)), "default")


def profile_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``region`` and ``endpoint_url`` of the profile in the config file, where it sets them."""
    env = _environ(environ)
    path = Path(env.get("AWS_CONFIG_FILE") or Path.home() / ".aws" / "config").expanduser()
    if not path.is_file():
        return {}
    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
    except configparser.Error:
        return {}
    name = profile_name(env)
    section = name if name == "default" else f"profile {name}"
    if not parser.has_section(section):
        return {}
    return {
        key: parser.get(section, key)
        for key in ("region", "endpoint_url")
        if parser.has_option(section, key)
    }


def region(environ: Mapping[str, str] | None = None) -> str | None:
    env = _environ(environ)
    found = next((env[name] for name in REGION_VARIABLES if env.get(name)), None)
    return found or profile_settings(env).get("region") or None


def require_region(environ: Mapping[str, str] | None = None) -> str:
    """The region; a :class:`ConfigError` saying how to set one when nothing sets it."""
    found = region(environ)
    if found is None:
        raise ConfigError(
            [
                "no AWS region: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), "
                f"or give profile {profile_name(environ)!r} a region"
            ]
        )
    return found


def endpoint_url(service: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The endpoint for ``service`` (``s3``, ``stepfunctions``, ...); None: AWS's own."""
    env = _environ(environ)
    if env.get(IGNORE_ENDPOINTS_VARIABLE, "").lower() == "true":
        return None
    specific = f"{ENDPOINT_VARIABLE}_{service.upper().replace('-', '_')}"
    return (
        env.get(specific) or env.get(ENDPOINT_VARIABLE) or profile_settings(env).get("endpoint_url")
    ) or None
