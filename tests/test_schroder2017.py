"""The reproduction of Schroder 2017's tables runs and stays close to the paper
(the full tables: `make reproduce`, docs/schroder2017.md)."""
import re
import subprocess
import sys

from conftest import EXAMPLES

# the largest |ours - paper| accepted per table at N <= 400: XOR matches within
# one iteration; the addition table T13 (Trask's network, his initial weights)
# is two iterations above the paper at small N (the gap is studied in the docs;
# with the former U(-1, 1) weights it was 8 to 10)
TOLERANCE = {"T2": 1, "T5": 1, "T13": 2}


def table_rows(text, table):
    """(N, paper, ours, ours - paper, rho) rows of one table of the report."""
    section = text.split(f"## {table}: ", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \| ([+-]\d+) \| ([\d.]+) \|", section, re.M)


def test_reproduce_t2_t5_and_t13_at_small_n(tmp_path):
    out = tmp_path / "schroder2017.md"
    run = subprocess.run([sys.executable, str(EXAMPLES / "schroder2017" / "reproduce.py"),
                          "--tables", *TOLERANCE, "--max-n", "400", "--no-study", "--out",
                          str(out), "--jobs", "2"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    for table, tolerance in TOLERANCE.items():
        rows = table_rows(text, table)
        assert [int(row[0]) for row in rows] == [100, 200, 400], table
        for n, paper, ours, dev, rho in rows:
            assert int(ours) - int(paper) == int(dev)
            assert abs(int(dev)) <= tolerance, (table, n, paper, ours)
            assert 0 < float(rho) < 0.5
    assert "Settings experiment" in text and out.with_suffix(".json").exists()
    assert "Trask's binary-addition network" in text and "alpha_max = 0.2" in text
