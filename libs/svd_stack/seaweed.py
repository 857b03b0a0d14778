"""SeaweedFS specifics: the `weed server -s3` command line, its config files, the media bucket.

All eight listeners (master, volume, filer, s3 and their gRPC ports) are pinned to free ports on
127.0.0.1: left alone, weed derives gRPC ports as port+10000 and binds extra Iceberg/Lance ports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from svd_stack.procs import find_binary

BUCKET = "svd-media"
REGION = "us-east-1"
# Names of the ports we allocate; "s3" is the one clients use.
PORTS = ("s3", "s3_grpc", "master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc")
# Without this weed grows 7 volumes per collection at once; with -volume.max that soon runs out.
_MASTER_TOML = "[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 2\ncopy_3 = 3\ncopy_other = 1\n"


def write_config(config_dir: Path, access_key: str, secret_key: str) -> Path:
    """Write master.toml and the S3 identities file (one Admin identity); return the latter."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "master.toml").write_text(_MASTER_TOML)
    identities = {
        "identities": [
            {
                "name": "svd",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    s3_config = config_dir / "s3.json"
    fd = os.open(s3_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(identities, fh)
    return s3_config


def command(data: Path, socket_dir: Path, ports: dict[str, int]) -> list[str]:
    """`weed server` with master + volume + filer + S3, everything on 127.0.0.1."""
    config_dir, master_dir, volume_dir = data / "config", data / "master", data / "volume"
    for folder in (master_dir, volume_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return [
        find_binary("weed"),
        "-logtostderr",
        f"-config_dir={config_dir}",
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={volume_dir}",
        f"-master.dir={master_dir}",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        "-master.volumeSizeLimitMB=512",
        "-master.telemetry=false",
        "-master.resumeState=false",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        "-volume.max=64",
        "-volume.preStopSeconds=0",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        f"-filer.localSocket={socket_dir / 'filer.sock'}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        f"-s3.config={config_dir / 's3.json'}",
        f"-s3.localSocket={socket_dir / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]


def stray_sockets(ports: dict[str, int]) -> list[Path]:
    """Unix sockets weed always creates under /tmp (not configurable) for its gRPC ports."""
    kinds = ("master", "volume", "filer", "s3")
    return [Path(f"/tmp/seaweedfs-{kind}-grpc-{ports[f'{kind}_grpc']}.sock") for kind in kinds]


def remove_stray_sockets(ports: dict[str, int]) -> None:
    for path in stray_sockets(ports):
        if path.is_socket():
            path.unlink(missing_ok=True)


def ensure_bucket(endpoint: str, access_key: str, secret_key: str, name: str = BUCKET) -> None:
    """Create bucket `name` unless it exists."""
    from botocore.exceptions import ClientError

    from svd_stack.checks import s3_client

    client = s3_client(endpoint, access_key, secret_key, REGION, timeout=10.0)
    try:
        client.head_bucket(Bucket=name)
    except ClientError:
        client.create_bucket(Bucket=name)
