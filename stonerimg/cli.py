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


#: Metadata keys ``stonerimg info`` shows without ``--all``.
KEY_METADATA = ("title", "energy", "energy.units", "polarization", "field", "field.units", "instrument", "history")


def _describe(document, everything: bool) -> dict:
    cal = document.calibration
    keys = list(document.metadata) if everything else [k for k in KEY_METADATA if k in document.metadata]
    return {
        "file": document.filename,
        "class": type(document).__name__,
        "format": document.format,
        "shape": list(document.shape),
        "dtype": str(document.dtype),
        "calibration": {axis: dict(getattr(cal, axis)._asdict()) for axis in ("x", "y")},
        "metadata items": len(document.metadata),
        "metadata": {k: document.metadata[k] for k in keys},
    }


def _info(args) -> int:
    import json

    from .formats import load
    from .metadata import Metadata

    status = 0
    reports = []
    for name in args.files:
        try:
            document = load(name)
        except (OSError, ValueError) as err:
            print(f"{name}: {err}", file=sys.stderr)
            status = 1
            continue
        report = _describe(document, args.all)
        if args.json:
            report["metadata"] = Metadata(report["metadata"]).to_jsonable()
            reports.append(report)
            continue
        cal = document.calibration
        print(
            f"{name}: {report['class']} via {report['format']}, shape {document.shape}, dtype {report['dtype']}, "
            f"pixel {cal.x.scale:g} {cal.x.units} x {cal.y.scale:g} {cal.y.units}, "
            f"{report['metadata items']} metadata items"
        )
        for key, value in report["metadata"].items():
            print(f"  {key} = {value!r}")
    if args.json:
        print(json.dumps(reports, indent=2, ensure_ascii=False))
    return status


def parse_process(text: str) -> tuple[str, tuple, dict]:
    """Parse a ``--process`` step such as ``"crop(10)"`` or ``"normalise(scale=(0, 1))"``.

    Only names of registered image functions are accepted, and their arguments
    must be literals: the text is parsed, never evaluated.

    Returns
    -------
    (name, args, kwargs)

    Raises
    ------
    ValueError
        If the text is not ``name`` or ``name(literal, ..., key=literal, ...)`` with a
        registered image function's name.

    Examples
    --------
    >>> parse_process("crop(10, copy=True)")
    ('crop', (10,), {'copy': True})
    >>> parse_process("normalise")
    ('normalise', (), {})
    """
    import ast

    from .funcs import registered
    from .metadata import _literal

    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as err:
        raise ValueError(f"--process {text!r}: not a function call ({err.msg})") from None
    if isinstance(node, ast.Name):
        name, args, kwargs = node.id, (), {}
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and all(k.arg for k in node.keywords):
        try:
            name = node.func.id
            args = tuple(_literal(a) for a in node.args)
            kwargs = {k.arg: _literal(k.value) for k in node.keywords}
        except ValueError as err:
            raise ValueError(f"--process {text!r}: arguments must be literals ({err})") from None
    else:
        raise ValueError(f"--process {text!r}: expected name(arguments), e.g. crop(10)")
    if name not in registered():
        raise ValueError(f"--process {text!r}: {name!r} is not an image function")
    return name, args, kwargs


def _convert(args) -> int:
    from pathlib import Path

    try:
        steps = [parse_process(step) for step in args.process]
    except ValueError as err:
        print(f"stonerimg convert: {err}", file=sys.stderr)
        return 2
    from .folder import convert_files, keep_freed_buffers

    keep_freed_buffers()  # this process is ours: reuse image buffers instead of faulting in new pages
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    try:
        report = convert_files(
            [Path(s) for s in args.sources],
            Path(args.out),
            fmt=args.to,
            recursive=args.recursive,
            workers=args.workers,
            overwrite=args.overwrite,
            timeout=args.timeout,
            process=steps,
            client=client,
            progress=not args.quiet,
        )
    finally:
        if client is not None:
            client.close()
    for source, reason in report.failed:
        print(f"failed: {source}: {reason}", file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


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
    info.add_argument("--all", "--metadata", action="store_true", help="print every metadata item")
    info.add_argument("--json", action="store_true", help="print JSON for programs to read")
    info.set_defaults(run=_info)
    convert = commands.add_parser("convert", help="convert files or folders to another format")
    convert.add_argument("sources", nargs="+", help="files and folders to convert")
    convert.add_argument("-o", "--out", required=True, help="output folder")
    convert.add_argument("--to", default="tiff", choices=("tiff", "png", "npy", "hdf5"), help="output format")
    convert.add_argument("--recursive", action="store_true", help="also convert the sub-folders of folders")
    convert.add_argument("--workers", type=int, default=0, help="worker processes (0: convert in this process)")
    convert.add_argument("--timeout", type=float, default=60.0, help="seconds one file may take in a worker")
    convert.add_argument("--overwrite", action="store_true", help="replace existing output files")
    convert.add_argument(
        "--process", action="append", default=[], help='an image function to apply first, e.g. "crop(10)"'
    )
    convert.add_argument("--scheduler", help="address of a dask.distributed scheduler to run the work on")
    convert.add_argument("--quiet", action="store_true", help="no progress bar")
    convert.set_defaults(run=_convert)
    return parser


def main(argv=None) -> int:
    """Run the ``stonerimg`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
