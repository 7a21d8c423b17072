"""Thin adapter: rules download_lichess / download_cifar5m -> supercollapse.data.download.fetch."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.data.cifar5m import open_images  # noqa: E402
from supercollapse.data.download import fetch  # noqa: E402
from supercollapse.data.lichess import check_shard  # noqa: E402

p = snakemake.params
validate = {"lichess": lambda path: check_shard(path, elo_suffix=False), "cifar5m": open_images}[p.kind]
fetch(p.url, snakemake.output.manifest.removesuffix(".manifest.json"), sha256=p.sha256, validate=validate,
      timeout=p.timeout, retries=p.retries, log=logging.getLogger("download").info)
