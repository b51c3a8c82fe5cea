"""Make docs/images/report.png: run the blobs learning-rate x momentum demo with five seeds and
photograph its HTML report in headless Chromium.

    python scripts/report_screenshot.py [--out docs/images/report.png] [--epochs 200]

Needs matplotlib and Chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import lrlab.demos
from lrlab.lab.spec import Study
from lrlab.lab.store import Store
from lrlab.lab.study import run_study
from lrlab.report import write_report

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "report.png"))
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--size", default="1300,1500", help="window width,height in pixels")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("needs Chromium: apt-get install chromium", file=sys.stderr)
        return 2
    study = Study.from_toml(lrlab.demos.path("blobs_lr_momentum")).override(
        {"train.epochs": args.epochs, "seeds": [0, 1, 2, 3, 4]}
    )
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "lrlab.sqlite") as store:
            run_study(study, store)
            page = write_report(store, study.name, Path(tmp) / "report")
        subprocess.run(
            [
                browser,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={args.size}",
                f"--screenshot={Path(args.out).absolute()}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
