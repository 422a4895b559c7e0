"""Edit one scalar in params.yaml in place, keeping its comments and layout."""

from __future__ import annotations

import re
from pathlib import Path

from newsrec.data.io import write_text


def set_value(path: str | Path, section: str, key: str, value: str) -> None:
    """Set `section.key: value` (a top-level section, a direct child key)."""
    path = Path(path)
    lines = path.read_text().splitlines(keepends=True)
    in_section = False
    for i, line in enumerate(lines):
        if re.match(rf"^{re.escape(section)}:\s*(#.*)?$", line):
            in_section = True
            continue
        if in_section and re.match(r"^\S", line):
            break
        m = re.match(rf"^(\s+{re.escape(key)}:\s*)([^#\n]*?)(\s*#.*)?(\n?)$", line) if in_section else None
        if m:
            lines[i] = f"{m.group(1)}{value}{m.group(3) or ''}{m.group(4)}"
            write_text(path, "".join(lines))
            return
    raise KeyError(f"{path}: no key {section}.{key} to set")
