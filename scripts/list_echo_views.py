"""Rule list_echo_views: one cohort's echo views from its index files, in one manifest per shard."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg.list_records import list_records, write_shard_manifests
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("list_echo_views", snakemake.log[0])
manifest = list_records(snakemake.params.reader, "echo", snakemake.params.root, snakemake.params.n_shards)
counts = write_shard_manifests(manifest, dict(enumerate(snakemake.output.manifests)))
log.info("%s: listed %d records from %s into %d shard manifests",
         snakemake.wildcards.cohort, len(manifest), snakemake.params.root, len(counts))
provenance_from_snakemake(snakemake, started_at=started, summary={"listed": len(manifest), "per_shard": counts})
