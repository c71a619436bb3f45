"""The reproduction of Schroder 2017's tables runs and stays close to the paper
(the full tables: `make reproduce`, docs/schroder2017.md)."""
import re
import subprocess
import sys

from conftest import EXAMPLES


def test_reproduce_t2_and_t5_at_small_n(tmp_path):
    out = tmp_path / "schroder2017.md"
    run = subprocess.run([sys.executable, str(EXAMPLES / "schroder2017" / "reproduce.py"),
                          "--tables", "T2", "T5", "--max-n", "400", "--no-study", "--out", str(out),
                          "--jobs", "2"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \| ([+-]\d+) \| ([\d.]+) \|", text, re.M)
    assert len(rows) == 6  # T2 and T5 at N = 100, 200, 400
    for n, paper, ours, dev, rho in rows:
        assert int(ours) - int(paper) == int(dev)
        assert abs(int(dev)) <= 1, (n, paper, ours)
        assert 0 < float(rho) < 0.5
    assert "Settings experiment" in text and out.with_suffix(".json").exists()
