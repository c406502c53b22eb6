from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.checkov_scan import CheckovReport, find_checkov, scan
from tests.deploy.layout import MODULES, module_dir


@pytest.fixture(scope="session")
def checkov_reports() -> dict[Path, CheckovReport]:
    checkov = find_checkov()
    if checkov is None:
        pytest.skip(
            "checkov is not installed: python3 -m venv .venv-checkov && "
            ".venv-checkov/bin/pip install checkov (or set CHECKOV=/path/to/checkov)"
        )
    return scan(checkov, [module_dir(cloud) for cloud in MODULES])
