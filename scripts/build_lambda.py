"""Build governance/lambda/lambda.zip: the governance package, the shared package, and the pinned
dependencies as wheels for the Lambda platform (manylinux x86_64, Python 3.12; cedarpy and cryptography are
compiled, so the package must hold their manylinux wheels, not this machine's).

The same zip carries the key-rotation handler (agent_runtime.key_rotation.lambda_handler).
Run through `make lambda-package`. The archive is reproducible: fixed timestamps and order.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "governance" / "lambda" / "lambda.zip"
LOCK = ROOT / "governance" / "lambda" / "requirements.lock"
PACKAGES = [ROOT / "governance" / "lambda" / "governance", ROOT / "lib" / "agent_runtime"]
FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def build(output: Path = OUTPUT) -> Path:
    uv = Path(sys.executable).parent / "uv"
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "package"
        subprocess.run(  # noqa: S603 - our own tool and lock file
            [
                str(uv),
                "pip",
                "install",
                "--quiet",
                "--target",
                str(target),
                "--python-version",
                "3.12",
                "--python-platform",
                "x86_64-manylinux_2_28",
                "--only-binary",
                ":all:",
                "--require-hashes",
                "-r",
                str(LOCK),
            ],
            check=True,
        )
        for package in PACKAGES:
            shutil.copytree(package, target / package.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        files = sorted(p for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                info = zipfile.ZipInfo(str(path.relative_to(target)), FIXED_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return output


if __name__ == "__main__":
    path = build()
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e6:.1f} MB")
