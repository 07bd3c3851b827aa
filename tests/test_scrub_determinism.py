"""What transforms/scrub.py masks in a finding's text is the same in every process: the order of its
parts may not follow Python's string hashes, which differ from one process to the next."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# a family name whose whole text is exactly as long, as a part of the expression, as the part of its
# first word: 'Berg' + 21 characters escaped. Hand-made: the demo generator writes no such name
NAME = "Berg Jansen van Vrieze"
CODE = ("from transforms.scrub import identifier_pattern, scrub\n"
        f"print(scrub({NAME!r} + ', ' + {NAME.upper()!r}, identifier_pattern([{NAME!r}, 'Anna'])))")


def test_the_same_row_is_masked_the_same_way_whatever_the_process_hash_seed():
    masked = set()
    for seed in range(1, 9):  # seeds 1 and 2 ordered the two parts differently before the fix
        done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONHASHSEED": str(seed)}, timeout=120, check=True)
        masked.add(done.stdout.strip())
    assert len(masked) == 1, masked
    (text,) = masked
    assert "Berg" not in text and "BERG" not in text and "Vrieze" not in text.title()
