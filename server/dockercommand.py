"""Docker's Entrypoint and Cmd rules, and the notes a Docker-made container keeps for inspect.

The container model holds one argv; Docker's inspect shows Entrypoint and Cmd apart, and
HostConfig's Binds, Mounts, Tmpfs and ShmSize apart, which all become `mounts`. `docker_notes`
records that split; the server stores it as JSON in the annotation `DOCKER_ANNOTATION`
(beside `io.ocimux.image`), and a re-created container runs the same command from it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from .jsonfields import as_str_map, as_strings, bad
from .shapes import IMAGE_ANNOTATION, IMAGE_REF_ANNOTATION

if TYPE_CHECKING:
    from ocimux.oci.containerconfig import ContainerConfig

__all__ = ["DOCKER_ANNOTATION", "command", "docker_annotations", "docker_notes", "notes_of"]

#: annotation holding, as JSON, what `inspect` needs and the model does not keep
DOCKER_ANNOTATION: Final = "io.ocimux.docker"


def command(body: dict[str, Any], image: dict[str, Any]) -> tuple[list[str] | None, list[str]]:
    """(entrypoint, cmd) by Docker's rules; the process runs entrypoint + cmd.

    An Entrypoint given (even `[""]`, the docker CLI's `--entrypoint ""`) drops the image's
    command unless Cmd is given too; without one, an empty Cmd means the image's. Raises
    InvalidArgumentError for a value that is not a string or an array of strings.
    """
    entrypoint = _str_slice(body, "Entrypoint")
    cmd = _str_slice(body, "Cmd") or []
    if not entrypoint:
        if not cmd:
            cmd = list(image.get("cmd") or [])
        if entrypoint is None:
            entrypoint = list(image.get("entrypoint") or []) or None
    if entrypoint == [""]:
        entrypoint = []
    return entrypoint, cmd


def _str_slice(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return as_strings(value, key)


def docker_notes(
    body: dict[str, Any], entrypoint: list[str] | None, cmd: list[str]
) -> dict[str, Any]:
    """What inspect and a re-creation need beyond the model: the command's two parts, how
    many mounts came from Binds, Mounts, Tmpfs and ShmSize (in that order), NanoCpus."""
    host = body.get("HostConfig") or {}
    return {
        "entrypoint": entrypoint,
        "cmd": cmd,
        "mounts": [
            len(host.get("Binds") or []),
            len(host.get("Mounts") or []),
            len(host.get("Tmpfs") or {}),
            1 if host.get("ShmSize") else 0,
        ],
        "nano_cpus": host.get("NanoCpus") or 0,
    }


def notes_of(annotations: dict[str, Any]) -> dict[str, Any]:
    """The notes `docker_notes` made for a container, or {} (created otherwise)."""
    try:
        notes = json.loads(annotations.get(DOCKER_ANNOTATION) or "{}")
    except ValueError:
        return {}
    return notes if isinstance(notes, dict) else {}


def docker_annotations(
    body: dict[str, Any],
    image: dict[str, Any],
    config: ContainerConfig,
    entrypoint: list[str] | None,
    cmd: list[str],
) -> dict[str, str]:
    """The new container's annotations: its labels (policy hooks read them there, as before
    labels had a field of their own), HostConfig.Annotations, then ocimux's own notes.

    Raises InvalidArgumentError for an annotation that is not a string or uses ocimux's
    reserved `io.ocimux.` prefix.
    """
    host = body.get("HostConfig") or {}
    given = as_str_map(host.get("Annotations"), "HostConfig.Annotations")
    reserved = sorted(k for k in given if k.startswith("io.ocimux."))
    if reserved:
        raise bad("HostConfig.Annotations", f"{reserved[0]} uses the prefix ocimux reserves")
    annotations = {**dict(config.labels), **given}
    annotations[IMAGE_ANNOTATION] = image["name"]
    annotations[IMAGE_REF_ANNOTATION] = str(body.get("Image") or image["name"])
    annotations[DOCKER_ANNOTATION] = json.dumps(docker_notes(body, entrypoint, cmd))
    return annotations
