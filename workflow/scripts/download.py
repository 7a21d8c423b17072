"""Thin adapter: rules download_lichess and download_cifar5m -> supercollapse.stages.tokens.download."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # the package beside this workflow
from supercollapse.workflow import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])

from supercollapse.stages.tokens import download  # noqa: E402

p = snakemake.params
download(p.kind, p.url, snakemake.output.manifest, p.sha256, p.timeout, p.retries,
         allow_redirect_hosts=p.allow_redirect_hosts, allow_insecure_redirects=p.allow_insecure_redirects)
