"""Obtaining a dataset on a fresh machine: `python -m kdlib.obtain fashion_mnist` finds Fashion-MNIST, or installs
Debian's package, or downloads the official files and checks them against pinned checksums, or says in full why not."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from . import data
from .fingerprint import fingerprint
from .formats import DatasetNotFound

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"  # torchvision's mirror
# The official files: (MD5 as torchvision and zalandoresearch/fashion-mnist publish it, SHA-256). Debian's
# dataset-fashion-mnist holds the same deflate streams under a normalised gzip header (no file name, mtime of
# the package build); restoring the original header (name, mtime 2017-08-31) reproduces these MD5s exactly,
# and the SHA-256s were computed from those reconstructed files.
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                   "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe",
                                   "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79",
                                  "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310",
                                  "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
}


def obtain(name: str = "fashion_mnist", root: str | Path | None = None) -> Path:
    """Make `name` available and return its folder: where it already is; else (Fashion-MNIST) Debian's package
    through apt-get when root or passwordless sudo allows it; else the official files downloaded into
    <root or data/raw>/fashion-mnist/ and checked against pinned checksums (a mismatch deletes the file: ValueError).
    Otherwise DatasetNotFound with every place looked, everything tried and how to get it."""
    try:
        folder = data.find(name, root)
        print(f"{name}: found at {folder}")
        return folder
    except DatasetNotFound as e:
        if name != "fashion_mnist":
            raise
        message = str(e)
    tried = []
    apt = _apt_prefix()
    if apt is None:
        tried.append("apt-get: not usable here (needs apt-get, and root or passwordless sudo)")
    else:
        try:
            done = _apt_install(apt, "dataset-fashion-mnist")
        except (OSError, subprocess.SubprocessError) as e:
            done = f"{type(e).__name__}: {e}"
        if done is True:
            try:
                return data.find(name, root)
            except DatasetNotFound:
                done = f"installed, but no Fashion-MNIST appeared in {', '.join(map(str, data.SYSTEM_ROOTS[name]))}"
        tried.append(f"apt-get install dataset-fashion-mnist failed:\n    {done}")
    target = (Path(root) if root is not None else data.CHECKOUT_RAW) / data.info(name).folder
    for file, (md5, sha256) in FASHION_MNIST_FILES.items():
        try:
            download_verified(FASHION_MNIST_URL + file, target / file, md5, sha256)
        except OSError as e:
            tried.append(f"download of {FASHION_MNIST_URL + file} into {target}: {e}")
            raise DatasetNotFound(f"{message}\nAlso tried:\n  " + "\n  ".join(tried) + "\nOffline, copy "
                                  f"{', '.join(FASHION_MNIST_FILES)} from a machine that has them (Debian: "
                                  f"{data.SYSTEM_ROOTS[name][0]}) into one of the places above.") from None
    print(f"{name}: downloaded and verified into {target}")
    return target


def _apt_prefix() -> list[str] | None:
    if not shutil.which("apt-get"):
        return None
    if os.geteuid() == 0:
        return []
    sudo = subprocess.run(["sudo", "-n", "true"], capture_output=True) if shutil.which("sudo") else None
    return ["sudo", "-n"] if sudo is not None and sudo.returncode == 0 else None


def _apt_install(prefix: list[str], package: str) -> bool | str:
    """True, or the tail of apt-get's output; runs `apt-get update` once if the package is unknown."""
    run = lambda *args: subprocess.run([*prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", *args],
                                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800)
    result = run("install", "-y", "-q", package)
    if result.returncode and "Unable to locate package" in result.stderr:
        run("update", "-q")
        result = run("install", "-y", "-q", package)
    return True if result.returncode == 0 else (result.stderr or result.stdout).strip()


def download_verified(url: str, dest: Path, md5: str | None, sha256: str | None, timeout: float = 60) -> Path:
    """Download `url` to `dest` unless a verified copy is there; a checksum mismatch deletes it (ValueError)."""
    def problem(path: Path) -> str | None:
        blob = path.read_bytes()
        for algorithm, expected in (("md5", md5), ("sha256", sha256)):
            got = hashlib.new(algorithm, blob).hexdigest()
            if expected and got != expected:
                return f"{algorithm} {got}, expected {expected}"
    if dest.is_file() and problem(dest) is None:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out)
        mismatch = problem(part)
        if mismatch:
            raise ValueError(f"{url}: the download failed its checksum ({mismatch}); deleted it")
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    parser = argparse.ArgumentParser(prog="python -m kdlib.obtain",
                                     description="Find a dataset, or install/download it (Fashion-MNIST).")
    parser.add_argument("name", nargs="?", default="fashion_mnist", choices=list(data.DATASETS))
    parser.add_argument("--root", help="look (and download) here first")
    parser.add_argument("--fingerprint", action="store_true", help="print what identifies its files and labels")
    args = parser.parse_args(argv)
    try:
        obtain(args.name, args.root)
        if args.fingerprint:
            print(json.dumps(fingerprint(args.name, args.root), indent=1))
    except DatasetNotFound as e:
        print(e, file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
