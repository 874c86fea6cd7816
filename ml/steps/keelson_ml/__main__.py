# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""python -m keelson_ml <step>: validate, evaluate, register, drift, promote (docs/ml.md). Exit codes: 0 done (drift: either
verdict), 1 the step's verdict is no (data breaks a rule, a model fails its tests), 2 a mistake to fix (a project
file, the environment, unreadable data), 3 MLflow refused or failed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mlflow.exceptions import MlflowException

from keelson_ml import _steps
from keelson_ml._env import Env, read_env
from keelson_ml._errors import KeelsonError, StepFailed

EXIT_FAILED = 1
EXIT_MISTAKE = 2
EXIT_MLFLOW = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m keelson_ml", description="The generic steps of a keelson ML project.")
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    steps.add_parser("validate", help="check data.yaml's source against its column rules")
    for name, what in (
        ("evaluate", "run tests.yaml's model tests on a run's model"),
        ("register", "register a run's model, alias challenger"),
    ):
        step = steps.add_parser(name, help=what)
        step.add_argument("--run-id", help="the training run (default: the run id in KEELSON_OUTPUTS)")
    steps.add_parser("drift", help="measure drift between drift.yaml's reference and current data")
    promote = steps.add_parser("promote", help="point serving.yaml at a registered version, for a pull request")
    promote.add_argument("--version", required=True, help="the registered model version to serve")
    return parser


def guarded(step: str, work: Callable[[], list[str]]) -> int:
    """Run a step; print its report, or its failure without a traceback; return the exit code."""
    try:
        lines = work()
    except StepFailed as error:
        print(f"keelson_ml {step}: FAILED: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeelsonError as error:
        print(f"keelson_ml {step}: {error}", file=sys.stderr)
        return EXIT_MISTAKE
    except MlflowException as error:
        print(f"keelson_ml {step}: MLflow said {error.error_code}: {error.message}", file=sys.stderr)
        return EXIT_MLFLOW
    for line in lines:
        print(line)
    return 0


def _work(step: str, run_id: str | None, version: str | None = None) -> Callable[[], list[str]]:
    def work() -> list[str]:
        env: Env = read_env()
        if step == "validate":
            return _steps.validate(env)
        if step == "drift":
            return _steps.drift(env)
        if step == "promote":
            return _steps.promote(env, str(version))
        resolved = _steps.resolve_run_id(env, run_id)
        return _steps.evaluate(env, resolved) if step == "evaluate" else _steps.register(env, resolved)

    return work


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    return guarded(arguments.step, _work(arguments.step, getattr(arguments, "run_id", None), getattr(arguments, "version", None)))


if __name__ == "__main__":
    sys.exit(main())
