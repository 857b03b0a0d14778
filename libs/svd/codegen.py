"""Generates the Python contract stubs (messages, gRPC, Connect, and their type stubs) from `proto/` into `libs/`.

`python -m svd.codegen` rewrites `libs/social_video/`; `python -m svd.codegen --check` exits 1 when the committed
stubs differ from what the protos generate (the test suite runs the check, so stale stubs cannot land).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import sysconfig
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "proto"
STUBS_ROOT = REPO_ROOT / "libs"
PACKAGE = "social_video"


def _plugin(name: str) -> str:
    scripts = Path(sysconfig.get_path("scripts"))
    candidate = scripts / name
    found = candidate if candidate.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"protoc plugin {name} not found (pip install -r requirements-dev.txt)")
    return str(found)


def generate(out_dir: Path) -> None:
    """Generate stubs for every proto under `proto/` into `out_dir/social_video/...`."""
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={well_known}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--plugin=protoc-gen-connectrpc={_plugin('protoc-gen-connectrpc')}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        # Connect (HTTP/1.1 JSON or protobuf, for browsers and curl) over the same google.protobuf messages.
        f"--connectrpc_out={out_dir}",
        "--connectrpc_opt=protobuf=google",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    root = out_dir / PACKAGE
    for package_dir in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        (package_dir / "__init__.py").touch()
    (root / "py.typed").touch()


def stale_files(committed: Path, fresh: Path) -> list[str]:
    """Relative paths that differ between two generated trees (missing on either side included)."""
    committed_files = {
        p.relative_to(committed) for p in committed.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    differing = {
        rel for rel in committed_files & fresh_files if not filecmp.cmp(committed / rel, fresh / rel, shallow=False)
    }
    return sorted(str(p) for p in (committed_files ^ fresh_files) | differing)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs are stale")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fresh_root = Path(tmp)
        generate(fresh_root)
        target = STUBS_ROOT / PACKAGE
        if args.check:
            stale = stale_files(target, fresh_root / PACKAGE)
            if stale:
                print("stale generated stubs (run `python -m svd.codegen`):", *stale, sep="\n  ", file=sys.stderr)
                return 1
            print("generated stubs are up to date")
            return 0
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(fresh_root / PACKAGE, target)
        print(f"wrote {target}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
