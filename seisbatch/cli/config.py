"""``seisbatch config``: the settings in effect and where they come from."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    g = sub.add_parser("config", help="show the settings in effect and where they come from",
                       description="Print every seisbatch setting in effect. Settings live in Dask's config system under "
                                   "the key `seisbatch`: the shipped defaults, then YAML files in the Dask config "
                                   "directories (~/.config/dask, $DASK_CONFIG), then environment variables such as "
                                   "DASK_SEISBATCH__RETRIES=5 or DASK_SEISBATCH__DENOISE__TILE='[256, 512]'. "
                                   "Command-line options override all of them.")
    g.add_argument("--json", action="store_true", help="machine-readable output")
    g.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    import yaml

    from .. import config, store

    if args.json:
        print(json.dumps(config.effective(), indent=2))
        return 0
    print(f"# seisbatch settings in effect (defaults: {config.defaults_file()})")
    print("# override in YAML files under: " + ", ".join(config.search_paths()))
    print("# or with variables like DASK_SEISBATCH__DENOISE__BATCH_SIZE=16; command-line options win over both")
    print(f"# Zarr codec pipeline in use: {store.use_codec_pipeline()}")
    print(yaml.safe_dump({"seisbatch": config.effective()}, sort_keys=False), end="")
    return 0
