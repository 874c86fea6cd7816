# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Generate the field reference of docs/spec.md from the spec model (plugins/module_utils/_spec_model.py).

    python tools/spec_doc.py --write docs/spec.md   # rewrite the generated part (make docs)
    python tools/spec_doc.py --check docs/spec.md   # exit 1 when it is out of date

Only the text between the BEGIN/END markers is generated; the rest of the page is written by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / ".collections"))

from ansible_collections.keelson.platform.plugins.module_utils._schema import DocRow
from ansible_collections.keelson.platform.plugins.module_utils._spec_model import NODE, SPEC

BEGIN = "<!-- BEGIN GENERATED: tools/spec_doc.py (make docs) -->"
END = "<!-- END GENERATED -->"

_SECTIONS = (
    ("keelson_platform", "Top level", ("name", "domain")),
    ("keelson_platform.cluster", "cluster", ("cluster",)),
    ("keelson_platform.gitops", "gitops", ("gitops",)),
    ("keelson_platform.components", "components", ("components",)),
    ("keelson_platform.identity", "identity", ("identity",)),
    ("keelson_platform.tenants", "tenants", ("tenants",)),
    ("keelson_platform.secrets", "secrets", ("secrets",)),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[DocRow]) -> list[str]:
    lines = ["| field | type | default | description |", "|---|---|---|---|"]
    for row in rows:
        description = row.doc + (f" Example: `{row.example}`." if row.example else "")
        lines.append(f"| `{row.path}` | {_cell(row.type)} | {_cell(row.default)} | {_cell(description)} |")
    return lines


def reference() -> str:
    """The generated reference, markers excluded."""
    rows = list(SPEC.doc_rows(""))
    out: list[str] = []
    for anchor, title, roots in _SECTIONS:
        selected = [row for row in rows if row.path.split(".")[0].split("[")[0] in roots]
        out += ["", f"### {title}", "", f"Fields of `{anchor}`." if title != "Top level" else "", ""]
        out += _table(selected)
    out += ["", "### Per-host settings: `keelson_node`", ""]
    out += ["Set in `host_vars/<host>.yml` of the hosts in `keelson_servers` and `keelson_agents`.", ""]
    out += _table(list(NODE.doc_rows("keelson_node")))
    text = "\n".join(line for index, line in enumerate(out) if line or (index and out[index - 1]))
    return text.strip("\n") + "\n"


def render(page: str) -> str:
    """The page with its generated part replaced by the current reference."""
    if BEGIN not in page or END not in page:
        raise SystemExit(f"spec_doc: the page has no {BEGIN} ... {END} markers")
    head, rest = page.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return f"{head}{BEGIN}\n\n{reference()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, metavar="PAGE")
    mode.add_argument("--check", type=Path, metavar="PAGE")
    args = parser.parse_args()
    page_path: Path = args.write or args.check
    page = page_path.read_text(encoding="utf-8")
    fresh = render(page)
    if args.write:
        page_path.write_text(fresh, encoding="utf-8")
        return 0
    if fresh != page:
        print(f"{page_path} is out of date with the spec model: run make docs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
