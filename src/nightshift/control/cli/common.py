"""What every command needs: a pipeline's spec by name, its registry under a given S3 identity, the actor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nightshift.core.config import load_settings
from nightshift.core.errors import NightshiftError
from nightshift.core.spec_loading import load_spec

if TYPE_CHECKING:
    from nightshift.core.spec import PipelineSpec


def spec_for(name: str) -> PipelineSpec:
    settings = load_settings()
    path = settings.pipelines_dir / name / "pipeline.yaml"
    if not path.exists():
        known = sorted(p.parent.name for p in settings.pipelines_dir.glob("*/pipeline.yaml"))
        raise NightshiftError(f"no pipeline named {name!r} ({path} not found); known: {', '.join(known)}")
    return load_spec(path, settings.project_root)


def registry_for(model: str, role: str):  # ModelRegistry, imported lazily
    from nightshift.core.registry.store import ModelRegistry
    from nightshift.core.s3 import client_from_env

    return ModelRegistry(client_from_env(role=role), spec_for(model).push.uri)


def cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"
