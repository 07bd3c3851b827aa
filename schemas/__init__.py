"""The project's schemas: source contracts, the outcome taxonomy, counting rules and checks."""

from __future__ import annotations

import yaml

#: libyaml's parser where PyYAML was built with it (about 10x faster on the project's files, the
#: same values); the pure-Python one otherwise
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> object:
    """Safe-load YAML text (only plain types), with libyaml when available."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506  safe loader
