"""Every study in comparisons/ runs end to end at a tiny size (smoke test)."""

import pytest

from oile_q.cli import main
from oile_q.studies import list_studies

STUDIES = sorted(list_studies())


def test_studies_are_listed():
    assert "paper1_fig1" in STUDIES


@pytest.mark.parametrize("name", STUDIES)
def test_study_quick(name, tmp_path, capsys):
    out = tmp_path / name
    assert main(["study", name, "--quick", "-o", str(out)]) == 0
    files = {p.name for p in out.iterdir()}
    assert any(f.endswith(".png") for f in files), files
    assert any(f.endswith(".nc") for f in files), files
    assert "deviations.csv" in files or any(f.endswith(".csv") for f in files)
    assert not any(f.endswith(".part") for f in files)
