"""Extract the DAVIS 2016 training sequences (480p frames and masks) into a folder outside the repo.

    python benchmarks/davis_data.py --git-dir PATH/TO/KNN-project.git --out ~/davis2016

The sequences come from the git history of the public repository ``xmican10/KNN-project``
(commit ``80880aeb``, folder ``DAVIS/``): clone it (or fetch a mirror of it) first and give
its git directory. Only the 30 sequences of ``ImageSets/480p/train.txt`` are extracted: the
validation sequences are kept for independent evaluation and must not be used for tuning.
DAVIS is CC BY-NC: never commit frames or masks.

The result is ``OUT/JPEGImages/480p/<sequence>/00000.jpg`` and
``OUT/Annotations/480p/<sequence>/00000.png``, as in the DAVIS release.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import tarfile
from pathlib import Path

COMMIT = "80880aeb900a0a1a7b010f111d4f33d0a5d25e05"


def train_sequences(git_dir: Path) -> list[str]:
    """Names of the DAVIS 2016 training sequences, as listed at ``COMMIT``."""
    listing = subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{COMMIT}:DAVIS/ImageSets/480p/train.txt"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted({line.split()[0].split("/")[3] for line in listing.splitlines() if line.strip()})


def extract(git_dir: Path, out: Path) -> list[str]:
    """Write the training sequences' 480p frames and masks under ``out``; return their names."""
    names = train_sequences(git_dir)
    paths = [f"DAVIS/{kind}/480p/{name}" for kind in ("JPEGImages", "Annotations") for name in names]
    archive = subprocess.run(
        ["git", f"--git-dir={git_dir}", "archive", "--format=tar", COMMIT, *paths], check=True, capture_output=True
    ).stdout
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            member.name = member.name.removeprefix("DAVIS/")
            tar.extract(member, out, filter="data")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git-dir", type=Path, required=True, help="git directory of a KNN-project clone")
    parser.add_argument("--out", type=Path, required=True, help="folder to extract into (outside the repository)")
    args = parser.parse_args()
    names = extract(args.git_dir.expanduser(), args.out.expanduser())
    print(f"{len(names)} training sequences in {args.out}: {' '.join(names)}")


if __name__ == "__main__":
    main()
