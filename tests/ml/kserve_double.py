# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""KSERVE PREDICTOR TEST DOUBLE: starts a rendered InferenceService's predictor container as a local process, the
way KServe v0.20.0's controller would build it from the InferenceService and its ClusterServingRuntime, so that
what keelson renders (image, command, environment) is what drives the real MLServer over the real model files.

What it does as KServe does (the subset keelson renders; kserve/kserve v0.20.0):
- the runtime is the one the model names (``predictor.model.runtime``), and it must list the model's format in
  ``supportedModelFormats`` and the v2 protocol (MLServer's, the default KServe sets for it);
- the defaulter's MLServer settings, for a runtime whose ``serving.kserve.io/server-type`` annotation is
  ``mlserver`` (``SetRuntimeDefaults`` / ``SetMlServerDefaults``, inference_service_defaults.go): with a
  ``storageUri``, ``MLSERVER_MODEL_NAME`` (the InferenceService's name) and ``MLSERVER_MODEL_URI`` (``/mnt/models``)
  are appended unless given, and the label ``modelClass`` is the format's MLServer class;
- the model's container fields over the runtime's container (``MergeRuntimeContainers``: a strategic merge patch,
  ``env`` merged by name, maps merged, anything else replaced, ``args`` concatenated), then the runtime's
  ``{{.Labels.X}}`` placeholders filled from the labels (``ReplacePlaceholders``);
- the storage initializer: every object under the ``storageUri`` prefix (as a folder: ``<prefix>/``) copied to the
  model folder (``/mnt/models``) with the tenant's S3 client, empty objects left out (kserve_storage.py
  ``_download_s3``, which also matches keys that merely start with the prefix).

The image is a local environment the test names (``images``: image reference -> the folder of its executables):
an image the test does not name is refused, so a predictor that would run another image (KServe's runtime image,
whose versions cannot load keelson_ml's models) cannot pass. The command must be ``mlserver`` (found in that
folder). ``/mnt/models`` and ``/tmp`` are the pod's own folders here; any other absolute path is refused. The
process runs in an empty working folder and with a HOME that does not exist (the image's working folder and home
are not the pod user's to write: uid 1000), so a test can check that nothing was written to either. The pod's
ports are mapped to free local ones (``MLSERVER_HTTP_PORT``, ``MLSERVER_GRPC_PORT``, and MLServer's metrics port
8082, which the pod has to itself), bound to 127.0.0.1.

What it does not do or prove: no pods, images, Deployments, Services, Ingress, TLS, webhooks, Pod Security, the
real storage initializer's image, resources or network policies; the model folder is not read-only (KServe mounts
it so) and the process runs as the test's user, not uid 1000. See docs/testing.md.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import free_port

Document = dict[str, Any]
MODEL_DIR = "/mnt/models"  # constants.DefaultModelLocalMountPath
# constants.MLServerModelClass* by model format (inference_service_defaults.go SetMlServerDefaults).
MODEL_CLASSES = {
    "mlflow": "mlserver_mlflow.MLflowRuntime",
    "sklearn": "mlserver_sklearn.SKLearnModel",
    "xgboost": "mlserver_xgboost.XGBoostModel",
    "lightgbm": "mlserver_lightgbm.LightGBMModel",
}
_MODEL_ONLY = {"modelFormat", "runtime", "storageUri", "protocolVersion"}
_CONTAINER = {"name", "image", "command", "args", "env", "resources", "securityContext"}
_PLACEHOLDER = re.compile(r"\{\{\s*\.Labels\.([A-Za-z0-9_.-]+)\s*\}\}")
_PORTS = ("MLSERVER_HTTP_PORT", "MLSERVER_GRPC_PORT", "MLSERVER_METRICS_PORT")
_DATATYPES = {"int64": "INT64", "int32": "INT32", "float64": "FP64", "float32": "FP32", "bool": "BOOL", "object": "BYTES"}


class DoubleRefused(Exception):
    """The InferenceService asks for something this double does not do: the test must not pass by skipping it."""


def _known(where: str, document: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise DoubleRefused(f"{where}: the double does not run {', '.join(unknown)}")


def _merge(base: Any, overlay: Any) -> Any:
    """A strategic merge patch of a Container, as far as keelson's fields go: maps merged, env by name."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            if key == "env":
                by_name = {item["name"]: item for item in base.get("env", [])}
                by_name.update({item["name"]: item for item in value})
                merged["env"] = list(by_name.values())
            elif key == "args":
                merged["args"] = [*base.get("args", []), *value]
            else:
                merged[key] = _merge(base.get(key), value)
        return merged
    return overlay


def predictor_container(isvc: Document, runtimes: Mapping[str, Document]) -> Document:
    """The predictor's container as KServe builds it from the InferenceService and its ClusterServingRuntime."""
    predictor = isvc["spec"]["predictor"]
    model = dict(predictor["model"])
    name = model.get("runtime")
    if name not in runtimes:
        raise DoubleRefused(f"runtime {name!r}: no such ClusterServingRuntime ({', '.join(sorted(runtimes)) or 'none'})")
    server_type = runtimes[name]["metadata"].get("annotations", {}).get("serving.kserve.io/server-type")
    if server_type != "mlserver":
        raise DoubleRefused(f"runtime {name}: server type {server_type!r}, the double runs MLServer runtimes only")
    runtime = runtimes[name]["spec"]
    model_format = model["modelFormat"]["name"]
    if model_format not in {item["name"] for item in runtime.get("supportedModelFormats", [])}:
        raise DoubleRefused(f"runtime {name} does not support the model format {model_format!r}")
    if "v2" not in runtime.get("protocolVersions", []) or model.get("protocolVersion", "v2") != "v2":
        raise DoubleRefused(f"runtime {name}: MLServer speaks the v2 protocol")
    if model_format not in MODEL_CLASSES:
        raise DoubleRefused(f"model format {model_format!r}: not one of MLServer's ({', '.join(MODEL_CLASSES)})")
    [base] = runtime["containers"]
    _known(f"runtime {name}'s container", base, _CONTAINER)
    overlay = {key: value for key, value in model.items() if key not in _MODEL_ONLY}
    _known(f"InferenceService {isvc['metadata']['name']}'s model", overlay, _CONTAINER)
    env = list(overlay.get("env", []))
    if "storageUri" in model:
        given = {item["name"] for item in env}
        for key, value in (("MLSERVER_MODEL_NAME", isvc["metadata"]["name"]), ("MLSERVER_MODEL_URI", MODEL_DIR)):
            if key not in given:
                env.append({"name": key, "value": value})
    overlay["env"] = env
    container = _merge(dict(base), overlay)
    labels = {**isvc["metadata"].get("labels", {}), "modelClass": MODEL_CLASSES[model_format]}

    def fill(match: re.Match[str]) -> str:
        if match.group(1) not in labels:
            raise DoubleRefused(f"placeholder {match.group(0)}: no such label")
        return labels[match.group(1)]

    text = _PLACEHOLDER.sub(fill, json.dumps(container))
    if "{{" in text:
        raise DoubleRefused(f"a placeholder the double does not fill: {text}")
    return dict(json.loads(text))


def pull_model(storage_uri: str, folder: Path, s3: Any) -> list[str]:
    """The storage initializer: every object under the s3:// prefix, copied to ``folder`` by its relative key."""
    match = re.fullmatch(r"s3://([^/]+)/(.+)", storage_uri)
    if match is None:
        raise DoubleRefused(f"storageUri {storage_uri!r}: the double pulls s3://<bucket>/<prefix> only")
    bucket, prefix = match.group(1), match.group(2).rstrip("/") + "/"
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if item.get("Size", 0) > 0
    ]
    for key in keys:
        target = folder / key[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    return [key[len(prefix) :] for key in keys]


@dataclass
class Predictor:
    """A started predictor: its process, where it listens and the folders it was given."""

    name: str
    argv: list[str]
    env: dict[str, str]
    url: str
    workdir: Path
    home: Path
    process: subprocess.Popen[bytes]
    log: Path

    def said(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the predictor exited with {self.process.returncode}:\n{self.said()}")
            try:
                with urllib.request.urlopen(f"{self.url}/v2/models/{self.name}/ready", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        raise AssertionError(f"the predictor was not ready in {timeout:.0f} s:\n{self.said()}")

    def infer(self, frame: Any) -> list[Any]:
        """A v2 inference request of a pandas DataFrame (one input per column), the first output's data."""
        inputs = [
            {
                "name": str(column),
                "datatype": _DATATYPES[str(frame[column].dtype)],
                "shape": [len(frame)],
                # JSON has no NaN: a missing number is null (MLServer's pandas codec reads it back as missing).
                "data": [None if isinstance(value, float) and math.isnan(value) else value for value in frame[column].tolist()],
            }
            for column in frame.columns
        ]
        body = json.dumps({"parameters": {"content_type": "pd"}, "inputs": inputs}, allow_nan=False).encode()
        request = urllib.request.Request(
            f"{self.url}/v2/models/{self.name}/infer", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                result = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"inference refused ({error.code}): {error.read()[:2000]!r}\n{self.said()}") from None
        return list(result["outputs"][0]["data"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def start(
    container: Document, name: str, *, pod_dir: Path, models: Path, images: Mapping[str, Path], base_env: Mapping[str, str]
) -> Predictor:
    """Start the predictor's container: its image's ``mlserver`` with its environment, /mnt/models at ``models``."""
    image = container.get("image", "")
    if image not in images:
        raise DoubleRefused(f"image {image!r}: not an environment this test has ({', '.join(sorted(images))})")
    command = list(container.get("command", [])) + list(container.get("args", []))
    if not command or command[0] != "mlserver":
        raise DoubleRefused(f"command {command!r}: the double runs MLServer's own command only")
    tmp = pod_dir / "tmp"
    tmp.mkdir(parents=True)

    def local(value: str) -> str:
        for path, folder in ((MODEL_DIR, models), ("/tmp", tmp)):
            if value == path or value.startswith(path + "/"):
                return str(folder) + value[len(path) :]
        if value.startswith("/"):
            raise DoubleRefused(f"{value}: on none of the pod's folders ({MODEL_DIR}, /tmp)")
        return value

    env = dict(base_env)
    for item in container.get("env", []):
        _known(f"env {item['name']}", item, {"name", "value"})
        env[item["name"]] = local(item["value"])
    for port in _PORTS:
        env[port] = str(free_port())
    workdir, home = pod_dir / "workdir", pod_dir / "home"
    workdir.mkdir()
    env.update({"PATH": f"{images[image]}:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(tmp), "MLSERVER_HOST": "127.0.0.1"})
    argv = [str(images[image] / "mlserver"), *(local(part) for part in command[1:])]
    log = pod_dir / "predictor.log"
    with log.open("wb") as output:
        process = subprocess.Popen(argv, env=env, cwd=workdir, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    return Predictor(name, argv, env, f"http://127.0.0.1:{env['MLSERVER_HTTP_PORT']}", workdir, home, process, log)


def environment() -> dict[str, str]:
    """What the process needs beside what the pod is given: nothing of this one's MLFLOW_, AWS_, KEELSON_ or
    MLSERVER_ settings, and its locale."""
    return {key: value for key, value in os.environ.items() if key in ("LANG", "LC_ALL", "SYSTEMROOT")}
