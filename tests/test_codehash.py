import shutil
from pathlib import Path

import pytest

import supercollapse
from supercollapse.codehash import FAMILIES, source_hash

PKG = Path(supercollapse.__file__).parent


@pytest.fixture()
def pkg_copy(tmp_path):
    dst = tmp_path / "supercollapse"
    shutil.copytree(PKG, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def test_comments_do_not_change_the_hash_but_code_does(pkg_copy):
    before = {f: source_hash(pkg_copy, f) for f in FAMILIES}
    engine = pkg_copy / "train" / "engine.py"
    engine.write_text(engine.read_text() + "\n# a comment only\n")
    assert source_hash(pkg_copy, "train") == before["train"]
    engine.write_text(engine.read_text() + "\n_CHANGED = 1\n")
    after = {f: source_hash(pkg_copy, f) for f in FAMILIES}
    assert after["train"] != before["train"]
    assert after["analysis"] == before["analysis"] and after["plots"] == before["plots"]


def test_unknown_family():
    with pytest.raises(KeyError, match="unknown code family"):
        source_hash(PKG, "nope")
