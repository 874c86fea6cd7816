# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading a project's data from the tenant's bucket (S3 credentials and endpoint from the environment: AWS_*),
and the one holdout split that training and the model tests share."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError
from sklearn.model_selection import train_test_split

from keelson_ml._errors import KeelsonError
from keelson_ml._project import DataSpec, TestsSpec


def read_table(url: str, data_format: str) -> pd.DataFrame:
    """The table at an s3:// URL, or a KeelsonError saying which object could not be read and why."""
    bucket, _slash, key = url.removeprefix("s3://").partition("/")
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise KeelsonError(f"cannot read {url}: {code} ({error.response.get('Error', {}).get('Message', '')})") from None
    except BotoCoreError as error:
        raise KeelsonError(f"cannot read {url}: {error}") from None
    try:
        if data_format == "parquet":
            return pd.read_parquet(io.BytesIO(body))
        return pd.read_csv(io.BytesIO(body))
    except (ValueError, ImportError, pd.errors.ParserError) as error:
        raise KeelsonError(f"{url} is not readable as {data_format}: {error}") from None


def read_data(spec: DataSpec) -> pd.DataFrame:
    """data.yaml's source."""
    return read_table(spec.source, spec.format)


def split(frame: pd.DataFrame, tests: TestsSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, holdout rows): the same rows for the same data, holdout share and seed (tests.yaml)."""
    training, holdout = train_test_split(frame, test_size=tests.holdout, random_state=tests.seed)
    return training, holdout


def features_and_target(frame: pd.DataFrame, spec: DataSpec) -> tuple[pd.DataFrame, pd.Series[Any]]:
    """The feature columns (data.yaml's order) and the target column of a table."""
    missing = [name for name in [*spec.features, spec.target] if name not in frame.columns]
    if missing:
        raise KeelsonError(f"the data has no column {', '.join(missing)} (data.yaml lists it)")
    return frame[spec.features], frame[spec.target]
