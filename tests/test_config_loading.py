"""The config files read strictly (src/supercollapse/config_loading.py, issue 17: fail early, never silently).

Unit tests of the loader, a check that it replays Snakemake's merging of config files exactly, and dry runs in a
copy of the project (tests/helpers.py) where a broken config stops the workflow before any job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, copy_project
from helpers import snakemake as _snakemake
from supercollapse.config_loading import ConfigFileError, load_config_file, merged_config


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- the loader -------------------------------------------------------------------------------------------------


def test_duplicate_key_names_the_key_the_file_and_both_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "c.yaml", "tasks:\n  fourier:\n    optim:\n      lr: 0.01\n      b1: 0.9\n      lr: 0.02\n")
    with pytest.raises(ConfigFileError) as err:
        load_config_file("c.yaml")
    message = str(err.value)
    assert message.startswith("c.yaml:6:7: duplicate key 'lr' (also at line 4, column 7)"), message


def test_duplicate_top_level_key_in_a_file_outside_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    path = _write(tmp_path / "c.yaml", "plots:\n  dpi: 72\nresults: out\nplots:\n  dpi: 300\n")
    with pytest.raises(ConfigFileError, match=rf"^{path}:4:1: duplicate key 'plots' \(also at line 1, column 1\)"):
        load_config_file(path)


def test_merge_keys_override_without_being_duplicates(tmp_path):
    path = _write(tmp_path / "c.yaml", "base: &b {lr: 0.1, b1: 0.9}\ntask:\n  <<: *b\n  lr: 0.2\n")
    assert load_config_file(path) == {"base": {"lr": 0.1, "b1": 0.9}, "task": {"lr": 0.2, "b1": 0.9}}


@pytest.mark.parametrize("text,where,problem", [
    ("results: results\ntasks:\n\tfourier: {}\n", "3:1", "found character '\\t' that cannot start any token"),
    ("plots:\n  dpi: 150\n  \tformat: png\n", "3:3", "found character '\\t'"),
    ("tasks:\n  fourier:\n    sweep:\n      widths: [8, 12\n      steps: 100\n", "5:12", "expected ',' or ']'"),
    ("plots:\n  dpi: 150: 300\n", "2:11", "mapping values are not allowed here"),
])
def test_syntax_error_gives_file_line_column(tmp_path, monkeypatch, text, where, problem):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigFileError) as err:
        load_config_file("c.yaml")
    message = str(err.value)
    assert message.startswith(f"c.yaml:{where}: YAML syntax error: "), message
    assert problem in message and "\n" not in message


def test_scientific_notation_is_a_number_and_words_stay_strings(tmp_path):
    path = _write(tmp_path / "c.yaml", "a: 1e-3\nb: 1E5\nc: -2.5e+3\nd: 6.5e7\ne: 1.0e5\nf: .5e2\ng: 1.0e-20\n"
                  "h: abc\ni: '1e-3'\nj: \"2e5\"\nk: 1e\nl: e5\nm: 1e-3x\nn: 12\no: 0.5\np: 1_000\n")
    loaded = load_config_file(path)
    assert loaded == {"a": 0.001, "b": 1e5, "c": -2500.0, "d": 6.5e7, "e": 1e5, "f": 50.0, "g": 1e-20, "h": "abc",
                      "i": "1e-3", "j": "2e5", "k": "1e", "l": "e5", "m": "1e-3x", "n": 12, "o": 0.5, "p": 1000}
    assert all(type(loaded[k]) is float for k in "abcdefg") and type(loaded["n"]) is int


@pytest.mark.parametrize("text,found", [("", "nothing"), ("- a\n- b\n", "list"), ("just words\n", "str")])
def test_a_file_without_a_top_level_mapping_is_named(tmp_path, text, found):
    path = _write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigFileError, match=rf"^{path}: a config file must hold a mapping .* found {found}$"):
        load_config_file(path)


def test_json_config_loads_as_snakemake_loads_it_and_rejects_duplicates(tmp_path):
    good = _write(tmp_path / "c.json", '{"plots": {"dpi": 72, "eps": 1e-3}, "results": "out"}')
    assert load_config_file(good) == {"plots": {"dpi": 72, "eps": 0.001}, "results": "out"}
    bad = _write(tmp_path / "d.json", '{"results": "a",\n "results": "b"}')
    with pytest.raises(ConfigFileError, match=rf"^{bad}:2:2: duplicate key 'results' \(also at line 1, column 2\)"):
        load_config_file(bad)


def test_a_yte_template_is_rendered_as_snakemake_renders_it(tmp_path):
    from snakemake.common.configfile import load_configfile

    path = _write(tmp_path / "c.yaml", "__use_yte__: true\nresults: ?'out' + '2'\nplots: {dpi: 72}\n")
    assert load_config_file(path) == load_configfile(path) == {"results": "out2", "plots": {"dpi": 72}}
    _write(path, "__use_yte__: true\nresults: a\nresults: b\n")
    with pytest.raises(ConfigFileError, match="duplicate key 'results'"):
        load_config_file(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigFileError, match=rf"^{tmp_path}/none.yaml: no such config file$"):
        load_config_file(tmp_path / "none.yaml")


CONFIG_FILES = sorted(p.relative_to(ROOT) for pattern in ("config/*.yaml", "config/paper/*.yaml", "tests/data/*.yaml")
                      for p in ROOT.glob(pattern))


@pytest.mark.parametrize("rel", CONFIG_FILES, ids=str)
def test_valid_config_files_load_as_yaml_safe_load_loads_them(rel):
    """The strict reading changes nothing for the project's configs (none holds 1e-3-style values unquoted)."""
    text = (ROOT / rel).read_text()
    expected = yaml.safe_load(text)
    loaded = load_config_file(ROOT / rel)
    assert json.dumps(loaded) == json.dumps(expected)  # equal, key order and int/float types included


# --- the merged config replays Snakemake's ----------------------------------------------------------------------

_DUMP_SNAKEFILE = """\
import json


configfile: "config/config.yaml"


with open("dumped.json", "w") as f:
    json.dump(config, f)


rule all:
    run:
        pass
"""


@pytest.mark.parametrize("files,values,replace", [
    ((), (), False),
    (("a.yaml",), (), False),
    (("a.yaml", "b.yaml"), (), False),
    (("a.yaml", "b.yaml"), ("results=cli", "plots={'dpi': 1}", "lr=1e-3"), False),
    ((), ("extra=3",), False),
    (("b.yaml",), (), True),
    (("b.yaml",), ("extra=3",), True),
])
def test_merged_config_equals_snakemakes_config(tmp_path, monkeypatch, files, values, replace):
    from snakemake.cli import parse_config

    args = [*(("--configfile", *files) if files else ()), *(("--config", *values) if values else ()),
            *(("--replace-workflow-config",) if replace else ())]
    (tmp_path / "config").mkdir()
    _write(tmp_path / "Snakefile", _DUMP_SNAKEFILE)
    _write(tmp_path / "config" / "config.yaml",
           "results: results\nplots: {dpi: 150, format: png}\ntasks:\n  f: {lr: 0.1, widths: [1, 2]}\n  g: {lr: 1}\n")
    _write(tmp_path / "a.yaml", "tasks:\n  f: {lr: 0.2}\n  h: {lr: 3}\nplots: none\nnew: {x: 1}\n")
    _write(tmp_path / "b.yaml", "plots: {format: pdf}\ntasks: {f: {widths: [4]}}\nresults: b\n")
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", *args], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    monkeypatch.chdir(tmp_path)
    ours = merged_config("config/config.yaml", [tmp_path / f for f in files], parse_config(values), replace)
    assert json.dumps(ours) == (tmp_path / "dumped.json").read_text()


def test_merged_config_without_the_default_file_needs_a_configfile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "a.yaml", "results: a\n")
    assert merged_config("config/config.yaml", [path], {"x": 1}) == {"results": "a", "x": 1}
    with pytest.raises(ConfigFileError, match=r"^config/config.yaml: no such config file"):
        merged_config("config/config.yaml", [], {"x": 1})


# --- dry runs: the error comes before any job -------------------------------------------------------------------


@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("proj"))


@pytest.fixture
def config_text(proj):
    """The copy's config/config.yaml text; restored after the test."""
    path = proj / "config" / "config.yaml"
    original = path.read_text()
    yield original
    path.write_text(original)


def _dry_run_fails(proj: Path, *args: str) -> str:
    out = _snakemake(proj, "-n", "--cores", "1", *args, check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert not (proj / "results").exists()
    assert "Job stats" not in text and "Building DAG" not in text
    return text


def _line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def _broken_config(proj, config_text: str, old: str, new: str) -> tuple[int, str]:
    """Replace `old` by `new` in the project's config; the line of `new` and the failed dry run's message."""
    assert old in config_text
    text = config_text.replace(old, new, 1)
    (proj / "config" / "config.yaml").write_text(text)
    return _line_of(text, new), _dry_run_fails(proj)


def test_dry_run_names_file_line_column_of_a_tab(proj, config_text):
    line, message = _broken_config(proj, config_text, "      b1: 0.9", "\tb1: 0.9")
    assert f"config/config.yaml:{line}:1: YAML syntax error: found character '\\t'" in message, message


def test_dry_run_names_file_line_column_of_a_syntax_error(proj, config_text):
    line, message = _broken_config(proj, config_text, "      widths: [8, 12, 16, 24, 32, 48]",
                                   "      widths: [8, 12, 16, 24, 32, 48")
    assert f"config/config.yaml:{line + 1}:" in message and "YAML syntax error: expected ',' or ']'" in message, \
        message
    assert f"while parsing a flow sequence at line {line}, column 15" in message, message


def test_dry_run_rejects_a_duplicate_key_naming_both_lines(proj, config_text):
    text = config_text.replace("      b1: 0.9\n", "      b1: 0.9\n      lr: 0.02\n", 1)
    (proj / "config" / "config.yaml").write_text(text)
    first, second = _line_of(text, "      lr: 0.01"), _line_of(text, "      lr: 0.02")  # fourier's lr comes first
    message = _dry_run_fails(proj)
    assert (f"config/config.yaml:{second}:7: duplicate key 'lr' (also at line {first}, column 7): YAML would "
            "silently keep only the last value") in message, message


def _dry_run_with_configfile(proj, text: str) -> str:
    """The failed dry run's message with `text` as an extra --configfile."""
    _write(proj / "extra.yaml", text)
    try:
        return _dry_run_fails(proj, "--configfile", "extra.yaml")
    finally:
        (proj / "extra.yaml").unlink()


def test_dry_run_rejects_a_duplicate_key_in_a_configfile(proj, config_text):
    message = _dry_run_with_configfile(proj, "studies:\n  optimal: {schedule: linear}\n  optimal: {schedule: const}\n")
    assert "extra.yaml:3:3: duplicate key 'optimal' (also at line 2, column 3)" in message, message


def test_unquoted_scientific_notation_dry_runs(proj, config_text):
    assert config_text.count("      lr: 0.01\n") == 2
    (proj / "config" / "config.yaml").write_text(config_text.replace("      lr: 0.01\n", "      lr: 1e-2\n"))
    out = _snakemake(proj, "-n", "--cores", "1")
    assert "Job stats" in out.stdout + out.stderr
    assert not (proj / "results").exists()


def test_missing_configfile_is_named_before_any_job(proj, config_text):
    """Snakemake reads --configfile files before the Snakefile runs (ConfigSettings, in its command line code),
    so the workflow cannot intercept this: what is pinned here is what Snakemake 9 itself gives."""
    message = _dry_run_fails(proj, "--configfile", "config/nonexistent.yaml")
    assert message.rstrip().splitlines()[-1] == ("FileNotFoundError: [Errno 2] No such file or directory: "
                                                 "'config/nonexistent.yaml'")


@pytest.mark.xfail(strict=True, reason="Snakemake 9 opens --configfile files outside its own FileNotFoundError "
                   "handler (snakemake/common/configfile.py), before the Snakefile runs: a traceback")
def test_missing_configfile_is_one_line(proj):
    message = _dry_run_fails(proj, "--configfile", "config/nonexistent.yaml")
    assert "Traceback" not in message


@pytest.mark.xfail(strict=True, reason="Snakemake 9 parses --configfile files before the Snakefile runs and "
                   "reports a YAML error without the file or the line")
def test_syntax_error_in_a_configfile_names_the_file(proj):
    message = _dry_run_with_configfile(proj, "plots:\n\tdpi: 72\n")
    assert "extra.yaml:2:1" in message, message
