from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.checkov_scan import CheckovReport, find_checkov, scan
from tests.deploy.layout import CONFIG_MODULE, MODULES, module_dir


@pytest.fixture(scope="session")
def checkov_reports() -> dict[Path, CheckovReport]:
    checkov = find_checkov()
    if checkov is None:
        # `make test` installs it; a silent skip would let the modules drift unchecked.
        pytest.fail(
            "checkov is not installed: run `make test`, or python3 -m venv .venv-checkov && "
            ".venv-checkov/bin/pip install checkov (or set CHECKOV=/path/to/checkov)"
        )
    return scan(checkov, [*(module_dir(cloud) for cloud in MODULES), CONFIG_MODULE])
