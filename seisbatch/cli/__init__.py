"""The ``seisbatch`` command line: one module per command (parse, build the settings, call, print).

Library functions return values; only this package prints. ``main`` turns every expected failure
into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import SeisbatchError, as_os_error
from . import adapt, config, convert, demo, denoise, export, info, qc, training

#: the commands in the order ``--help`` lists them
COMMANDS = (convert, export, info, denoise, adapt, qc, config, training, demo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seisbatch",
        description="Distributed deep-learning denoising of large seismic surveys: SEG-Y/HDF5 -> Zarr -> "
                    "denoise on Dask -> SEG-Y.",
    )
    p.add_argument("--version", action="version", version=f"seisbatch {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    for command in (p, *sub.choices.values()):  # `qc --out x.png` must not quietly mean `--output x.png`
        command.allow_abbrev = False
    return p


#: botocore's errors for missing credentials (s3fs raises them unwrapped), named so that botocore,
#: an optional dependency, need not be imported
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError")


def _unrecognized(parser: argparse.ArgumentParser, command: str, extra: list[str]) -> None:
    """Refuse unknown arguments with the command's own usage and, for a mistyped option, the
    closest one it has (exits 2, as argparse does)."""
    import difflib

    sub = next(a for a in parser._subparsers._group_actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    options = [o for action in sub._actions for o in action.option_strings]
    hints = []
    for word in extra:
        if word.startswith("-"):
            close = difflib.get_close_matches(word.split("=")[0], options, n=1, cutoff=0.6)
            if close:
                hints.append(f"did you mean {close[0]}?")
    sub.error(f"unrecognized arguments: {' '.join(extra)}" + (f" ({'; '.join(hints)})" if hints else ""))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _unrecognized(parser, args.command, extra)
    try:
        return args.func(args)
    except SeisbatchError as exc:
        print(f"seisbatch: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `seisbatch info X | head -1`: the reader has gone, which is not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's flush at exit must not fail again
        return 0
    except (OSError, RuntimeError) as exc:  # disk full, permission denied, read-only or vanished storage, often from a worker
        os_exc = as_os_error(exc)  # zarrs reports these as RuntimeError
        if os_exc is None:
            raise
        exc = os_exc
        paths = [getattr(args, k, None) for k in ("output", "store")]  # commands of one path; others use naming()
        where = exc.filename or next((p for p in paths if isinstance(p, str)), "")
        resumable = args.command in ("convert", "denoise")
        print(f"seisbatch: error: {where}: {exc.strerror or exc}"
              + (". Nothing was marked complete; fix the cause and run the same command again to finish (finished "
                 "blocks are kept)" if resumable else ""), file=sys.stderr)
        return 2
    except Exception as exc:
        if type(exc).__name__ not in _NO_CREDENTIALS:
            raise
        where = next((a for a in vars(args).values() if isinstance(a, str) and "://" in a), "object storage")
        print(f"seisbatch: error: {where}: no credentials for object storage ({exc}); set AWS_ACCESS_KEY_ID and "
              "AWS_SECRET_ACCESS_KEY (or a profile in ~/.aws), and AWS_ENDPOINT_URL for an S3-compatible server",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resume = " (run the same command again to resume: finished blocks are kept)" \
            if args.command in ("convert", "denoise", "export", "adapt") else ""
        print(f"seisbatch: interrupted{resume}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
