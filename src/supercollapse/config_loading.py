"""Reading the workflow's config files strictly, once, before any job (issue 17: fail early, never silently).

Snakemake reads `configfile:` and `--configfile` files itself with PyYAML (YAML 1.1): a mapping's duplicate key
silently keeps the last value, `lr: 1e-3` is the string '1e-3', and a syntax error reports neither the file nor the
line. The Snakefile reads the same files again with `StrictLoader` and rebuilds `config` from them in Snakemake's
own order (`workflow_config`), so what the schema and `check_config` see is the strictly read config:

- a YAML syntax error (a tab among the indentation, an unclosed bracket) raises `ConfigFileError` as
  `path:line:column: ...`;
- a duplicate key in one mapping raises `ConfigFileError` naming the key, the file and both lines;
- scientific notation as YAML 1.2 writes it (1e-3, 1E5, -2.5e+3, 6.5e7) is a float; quoted values stay strings.

Everything else loads exactly as `yaml.safe_load` (and so Snakemake) loads it. A YTE template (`__use_yte__: true`)
is checked the same way, then rendered by Snakemake's own reader (where 1e-3 stays a string).

Snakemake reads `--configfile` files before the Snakefile runs, so a syntax error or a missing file there is
reported by Snakemake itself (docs/errors.md, "Config files"); duplicate keys and 1e-3 there are handled here.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

# YAML 1.2 (core schema) floats that YAML 1.1 leaves as strings: those with an exponent but no '.', or with an
# unsigned exponent (1.0e5). The 1.1 resolver already makes floats of 1.0e-20 and 1.5; it stays first in line.
_SCIENTIFIC = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class ConfigFileError(ValueError):
    """A config file that cannot be read as it was meant: the message starts with `path:line:column:` (or `path:`
    for what concerns the whole file), on one line."""


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    pass


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that rejects duplicate mapping keys and reads YAML 1.2 scientific notation as floats."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:  # `<<: *defaults` then overriding a key is no duplicate
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # unhashable key: SafeLoader's own error follows
                    continue
                if first is not key_node:
                    shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else key
                    raise _DuplicateKeyError(
                        None, None,
                        f"duplicate key {shown!r} (also at line {first.start_mark.line + 1}, column "
                        f"{first.start_mark.column + 1}): YAML would silently keep only the last value; remove one",
                        key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _SCIENTIFIC, list("-+0123456789."))


def shown_path(path: str | Path) -> str:
    """`path` relative to the working directory where it lies below it (as users type it), else absolute."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative


def _yaml_error(where: str, err: yaml.YAMLError) -> ConfigFileError:
    mark = getattr(err, "problem_mark", None)
    if mark is None:
        return ConfigFileError(f"{where}: {err}".replace("\n", " "))
    problem = err.problem or "invalid YAML"
    if not isinstance(err, _DuplicateKeyError):
        problem = f"YAML syntax error: {problem}"
    if any(tab in f"{err.problem}{err.context}" for tab in ("\t", "'\\t'")):
        problem += " (a tab character: YAML indents and separates with spaces only)"
    context_mark = getattr(err, "context_mark", None)
    if err.context and context_mark is not None:
        problem += f", {err.context} at line {context_mark.line + 1}, column {context_mark.column + 1}"
    return ConfigFileError(f"{where}:{mark.line + 1}:{mark.column + 1}: {problem}")


class _JsonDuplicate(Exception):
    pass


def _json_object(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _JsonDuplicate(key)
        out[key] = value
    return out


def load_config_file(path: str | Path) -> dict:
    """The mapping in a JSON or YAML config file (JSON first, as Snakemake reads it), read strictly.

    Raises ConfigFileError naming the file (and line:column where the problem has one)."""
    where = shown_path(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"{where}: no such config file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigFileError(f"{where}: cannot read the config file: {err}") from None
    try:
        data = json.loads(text, object_pairs_hook=_json_object)
    except (ValueError, _JsonDuplicate) as err:  # not JSON (or JSON with a duplicate key): read it as YAML
        try:
            data = yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader)
        except yaml.YAMLError as yerr:
            raise _yaml_error(where, yerr) from None
        if isinstance(err, _JsonDuplicate):
            raise ConfigFileError(f"{where}: duplicate key {err.args[0]!r}; JSON would keep only the last value")
    if not isinstance(data, dict):
        raise ConfigFileError(f"{where}: a config file must hold a mapping of keys at its top level, found "
                              f"{'nothing' if data is None else type(data).__name__}")
    if "__use_yte__" in data:  # a YTE template: Snakemake renders it, the checks above still hold
        from snakemake.common.configfile import load_configfile

        return load_configfile(path)
    return data


def merged_config(default: str | Path, configfiles: Sequence[str | Path] = (), overrides: Mapping | None = None,
                  replace: bool = False) -> dict:
    """The config Snakemake builds from `configfile: default`, then `--configfile` files, then `--config` values
    (`overrides`), with `--replace-workflow-config` (`replace`); every file read by `load_config_file`.

    Replays snakemake.workflow.Workflow: config starts as the command line's config, the default file updates it
    and the command line's config updates it again (update_config: nested mappings merge, the rest replaces)."""
    from snakemake.utils import update_config

    cli: dict = {}
    for path in configfiles:
        update_config(cli, load_config_file(path))
    if overrides:
        update_config(cli, copy.deepcopy(dict(overrides)))
    if os.path.exists(default):
        workflow_file = load_config_file(default)  # read (and checked) even where --replace-workflow-config drops it
        config = copy.deepcopy(cli)
        update_config(config, workflow_file)
        if cli and replace:
            config = {}
    elif configfiles:
        config = copy.deepcopy(cli)
    else:
        raise ConfigFileError(f"{shown_path(default)}: no such config file (the workflow's configfile), and no "
                              "--configfile given")
    update_config(config, copy.deepcopy(cli))
    return config


def workflow_config(workflow, default: str | Path) -> dict:
    """`merged_config` for the running Snakemake `workflow` (its command line's config files and values)."""
    settings = workflow.config_settings
    return merged_config(default, settings.configfiles, settings.config, settings.replace_workflow_config)
