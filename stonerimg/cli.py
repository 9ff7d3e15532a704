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
    cal = document.image.calibration
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
            document = load(name, external=args.external)
        except (OSError, ValueError) as err:
            print(f"{name}: {err}", file=sys.stderr)
            status = 1
            continue
        report = _describe(document, args.all)
        if args.json:
            report["metadata"] = Metadata(report["metadata"]).to_jsonable()
            reports.append(report)
            continue
        cal = document.image.calibration
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
    from .funcs import registered
    from .metadata import parse_call

    try:
        name, args, kwargs = parse_call(text)
    except ValueError as err:
        raise ValueError(f"--process {text!r}: {err}") from None
    if name not in registered():
        raise ValueError(f"--process {text!r}: {name!r} is not an image function")
    return name, args, kwargs


def _convert(args) -> int:
    from pathlib import Path

    from .folder import _output_format, convert_files, keep_freed_buffers

    try:
        steps = [parse_process(step) for step in args.process]
        _output_format(args.to)
    except ValueError as err:
        print(f"stonerimg convert: {err}", file=sys.stderr)
        return 2

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
            external=args.external,
        )
    finally:
        if client is not None:
            client.close()
    for source, reason in report.failed:
        print(f"failed: {source}: {reason}", file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


def _live_source(args):
    from .live import DirectoryWatcher, FileStack, SimulatedCamera

    if args.watch:
        return DirectoryWatcher(args.watch, args.pattern, poll=args.poll, existing=args.existing)
    if args.replay:
        return FileStack(args.replay, rate=args.fps, loop=args.loop)
    try:
        width, height = (int(v) for v in args.simulate.lower().split("x"))
        drift = tuple(float(v) for v in args.drift.split(","))
    except ValueError:
        raise ValueError(f"--simulate {args.simulate!r} / --drift {args.drift!r}: expected WxH and dx,dy") from None
    return SimulatedCamera((height, width), fps=args.fps or 50.0, drift=drift, noise=args.noise)


def _live(args) -> int:
    import time

    from .live import BUILTINS, ROI, Session, parse_processor

    try:
        if not args.process:
            raise ValueError(f"give at least one --process; choose from {', '.join(BUILTINS)}")
        processors = [parse_processor(text) for text in args.process]
        roi = ROI.parse(args.roi) if args.roi else None
        source = _live_source(args)
        session = Session(source, processors, roi=roi, drop=not args.no_drop, workers=args.workers)
        recorder = session.record(args.record) if args.record else None
    except (ValueError, TypeError, OSError) as err:
        print(f"stonerimg live: {err}", file=sys.stderr)
        return 2
    tty = sys.stdout.isatty()
    session.start()
    try:
        end = None if args.duration is None else time.monotonic() + args.duration
        while not session.wait(args.interval if end is None else max(0.0, min(args.interval, end - time.monotonic()))):
            if end is not None and time.monotonic() >= end:
                break
            line = session.stats().line()
            print(f"\r{line}\033[K" if tty else line, end="" if tty else "\n", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stats = session.stop()
    if tty:
        print()
    print(stats.line())
    print(stats.table())
    status = 0
    if stats.source_error:
        print(f"stonerimg live: the source failed: {stats.source_error}", file=sys.stderr)
        status = 1
    if recorder is not None:
        if recorder.error:
            print(f"stonerimg live: recording to {recorder.path} failed: {recorder.error}", file=sys.stderr)
            status = 1
        else:
            print(f"recorded to {recorder.path}")
    return status


def _external_option(parser) -> None:
    parser.add_argument(
        "--external",
        choices=("below", "none", "any"),
        help="where an HDF5 file may keep data outside itself: below (default: regular files in its own "
        "folder or below), none, or any (only for files you trust: a file can then make stonerimg read any file)",
    )


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
    _external_option(info)
    info.set_defaults(run=_info)
    convert = commands.add_parser("convert", help="convert files or folders to another format")
    convert.add_argument("sources", nargs="+", help="files and folders to convert")
    convert.add_argument("-o", "--out", required=True, help="output folder")
    convert.add_argument(
        "--to", default="tiff", help="output format: tiff, png, npy, hdf5 or any installed format that saves"
    )
    convert.add_argument("--recursive", action="store_true", help="also convert the sub-folders of folders")
    convert.add_argument("--workers", type=int, default=0, help="worker processes (0: convert in this process)")
    convert.add_argument("--timeout", type=float, default=60.0, help="seconds one file may take in a worker")
    convert.add_argument("--overwrite", action="store_true", help="replace existing output files")
    convert.add_argument(
        "--process", action="append", default=[], help='an image function to apply first, e.g. "crop(10)"'
    )
    convert.add_argument("--scheduler", help="address of a dask.distributed scheduler to run the work on")
    convert.add_argument("--quiet", action="store_true", help="no progress bar")
    _external_option(convert)
    convert.set_defaults(run=_convert)
    live = commands.add_parser(
        "live", help="process frames as they arrive (a folder being written, a stack, a simulated camera)"
    )
    where = live.add_mutually_exclusive_group(required=True)
    where.add_argument("--watch", metavar="DIR", help="process image files as they appear in DIR")
    where.add_argument("--replay", metavar="FILE", help="replay the frames of a stack file (multi-page TIFF)")
    where.add_argument("--simulate", metavar="WxH", help="a simulated camera making W x H frames")
    live.add_argument("--pattern", default="*", help='file names to watch, e.g. "*.tif" (default: all)')
    live.add_argument("--poll", type=float, default=0.1, help="seconds between looks at the folder")
    live.add_argument("--existing", action="store_true", help="also process the files already in the folder")
    live.add_argument("--fps", type=float, help="frames per second to replay or simulate")
    live.add_argument("--loop", action="store_true", help="replay the stack again and again")
    live.add_argument("--drift", default="0.2,0.1", help="simulated drift dx,dy in pixels per frame")
    live.add_argument("--noise", type=float, default=10.0, help="simulated noise in counts")
    live.add_argument("--roi", metavar="X,Y,W,H", help="region of interest: a box in pixels")
    live.add_argument(
        "--process",
        action="append",
        default=[],
        help="a built-in processor, repeatable: mean, max, min, std, sum, centroid, line_profile, radial_profile, "
        'fft, fft_radial_profile, gaussian, difference; options as "gaussian(sigma=3)"',
    )
    live.add_argument("--record", metavar="OUT.h5", help="record the results to an HDF5 file")
    live.add_argument("--workers", type=int, help="processors computing at once (default: one per processor)")
    live.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C or the source ends)")
    live.add_argument("--interval", type=float, default=1.0, help="seconds between status lines")
    live.add_argument(
        "--no-drop", action="store_true", help="process every frame, making the source wait (replaying files only)"
    )
    live.set_defaults(run=_live)
    return parser


def main(argv=None) -> int:
    """Run the ``stonerimg`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
