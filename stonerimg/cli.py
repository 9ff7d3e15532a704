"""The ``stonerimg`` command."""

from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    from .demo import run

    result = run(args.out)
    print(
        f"drift found (x, y) = ({result.drift_found[0]:.2f}, {result.drift_found[1]:.2f}) px; "
        f"true drift = {result.drift_true}"
    )
    print(f"wrote {len(result.files)} files:")
    for path in result.files:
        print(f"  {path}")
    return 0


def _formats(args) -> int:
    from .formats import available

    rows = available()
    print(f"{'name':<10} {'extensions (priority)':<28} {'saves':<6} {'lazy':<5} description")
    for row in rows:
        exts = ", ".join(f"{ext} ({prio})" for ext, prio in row["extensions"].items())
        print(
            f"{row['name']:<10} {exts:<28} {'yes' if row['saves'] else 'no':<6} "
            f"{'yes' if row['lazy'] else 'no':<5} {row['description']}"
        )
    return 0


def _info(args) -> int:
    from .formats import load

    status = 0
    for name in args.files:
        try:
            document = load(name)
        except (OSError, ValueError) as err:
            print(f"{name}: {err}", file=sys.stderr)
            status = 1
            continue
        cal = document.calibration
        print(
            f"{name}: {type(document).__name__} via {document.format}, shape {document.shape}, "
            f"dtype {document.dtype}, pixel {cal.x.scale:g} {cal.x.units} x {cal.y.scale:g} {cal.y.units}, "
            f"{len(document.metadata)} metadata items"
        )
        if args.metadata:
            for key, value in document.metadata.items():
                print(f"  {key} = {value!r}")
    return status


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``stonerimg`` command."""
    parser = argparse.ArgumentParser(prog="stonerimg", description="Scientific images with their metadata.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="make, correct and analyse a synthetic XMCD-STXM image pair")
    demo.add_argument("--out", default="stonerimg-demo", help="output folder (default: ./stonerimg-demo)")
    demo.set_defaults(run=_demo)
    formats = commands.add_parser("formats", help="list the registered file formats")
    formats.set_defaults(run=_formats)
    info = commands.add_parser("info", help="load files and describe them")
    info.add_argument("files", nargs="+")
    info.add_argument("--metadata", action="store_true", help="print every metadata item")
    info.set_defaults(run=_info)
    return parser


def main(argv=None) -> int:
    """Run the ``stonerimg`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
