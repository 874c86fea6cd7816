# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The churn example's data, made deterministically from a seed: customers (age, plan, monthly spend, tenure,
support tickets) and whether they left. --shift moves the customers (older, spending more, more tickets), as a
changed market would, for the drift check. Writes CSV to a file or stdout:

    python make_data.py --rows 2000 --seed 1 train.csv
    python make_data.py --rows 1000 --seed 2 --shift 1.0 latest.csv
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

PLANS = ("basic", "pro", "team")


def make(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """rows customers; the same seed and shift give the same table."""
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(42 + 12 * shift, 12, rows).round(), 18, 95).astype(int)
    plan = rng.choice(PLANS, rows, p=[0.5, 0.3, 0.2] if not shift else [0.2, 0.3, 0.5])
    spend = np.clip(rng.gamma(2.0, 25.0 * (1 + shift), rows), 0, None).round(2)
    tenure = rng.integers(0, 120, rows)
    tickets = rng.poisson(1.5 + 3 * shift, rows)
    score = -1.0 + 0.9 * tickets - 0.035 * tenure - 0.015 * (age - 40) + 0.012 * spend - 0.9 * (plan == "team") - 0.4 * (plan == "pro")
    churned = (rng.random(rows) < 1 / (1 + np.exp(-3 * score))).astype(int)
    frame = pd.DataFrame(
        {"age": age, "plan": plan, "monthly_spend": spend, "tenure_months": tenure, "support_tickets": tickets, "churned": churned}
    )
    # A few customers without a known spend (data.yaml allows up to 5%).
    frame.loc[rng.random(rows) < 0.01, "monthly_spend"] = np.nan
    return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shift", type=float, default=0.0, help="0: the training population; 1: a much changed one")
    parser.add_argument("out", nargs="?", default="-", help="the CSV file (default: stdout)")
    arguments = parser.parse_args()
    frame = make(arguments.rows, arguments.seed, arguments.shift)
    frame.to_csv(sys.stdout if arguments.out == "-" else arguments.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
