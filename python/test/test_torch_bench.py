"""bench/torch_bench.py runs in each of its modes and prints a whole table: every row has every column, times
and ratios are positive, each ratio is the quotient of its row's times, and each ceiling is the original's
fwd+bwd time over the larger of the row's roofline and the per-call floor printed above the table. The timings
themselves are not checked (bench/README.md holds those): the calls are few and short.
"""
import os
import re
import subprocess
import sys
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCRIPT = os.path.join(ROOT, "bench", "torch_bench.py")
FAST = ["--quick", "--repeats", "1", "--min-time", "0"]


def run_bench(*arguments):
    result = subprocess.run([sys.executable, SCRIPT, *arguments, *FAST], capture_output=True, text=True,
                            env=dict(os.environ), timeout=600, check=False)
    if result.returncode != 0:
        raise AssertionError(f"torch_bench.py {' '.join(arguments)} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


def table_rows(output):
    """The header's cells and each data row's cells of the output's markdown table."""
    lines = [line for line in output.splitlines() if line.startswith("|")]
    split = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return split[0], split[2:]


def seconds(cell):
    number, unit = cell.split()
    return float(number) * {"µs": 1e-6, "ms": 1e-3}[unit]


def ratio(cell):
    return float(cell.strip("*").rstrip("x"))


class TorchBenchTest(unittest.TestCase):
    def check_ratio(self, row, ratio_column, numerator_column, denominator_column):
        expected = seconds(row[numerator_column]) / seconds(row[denominator_column])
        # Times are printed to 3-4 significant digits, ratios to 2-3.
        self.assertAlmostEqual(ratio(row[ratio_column]) / expected, 1.0, delta=0.06, msg=row)

    def test_original_against_varnorm_with_ceilings(self):
        output = run_bench()
        floor = re.search(r"per-call floor .*: ([0-9.]+ [µm]s)", output)
        self.assertIsNotNone(floor, output)
        call_floor = seconds(floor.group(1))
        self.assertGreater(call_floor, 0.0)
        head, rows = table_rows(output)
        self.assertEqual(len(head), 10, head)
        self.assertEqual(head[-2:], ["fwd+bwd roofline", "ceiling"])
        self.assertEqual(len(rows), 4, output)  # two shapes, two memory formats
        for row in rows:
            self.assertEqual(len(row), 10, row)
            self.assertIn(row[1], ("NCHW", "NHWC"))
            for column in (2, 3, 5, 6, 8):
                self.assertGreater(seconds(row[column]), 0.0, row)
            self.check_ratio(row, 4, 2, 3)
            self.check_ratio(row, 7, 5, 6)
            ceiling = seconds(row[5]) / max(seconds(row[8]), call_floor)
            self.assertAlmostEqual(ratio(row[9]) / ceiling, 1.0, delta=0.06, msg=row)

    def check_table(self, mode, columns, ratios):
        """`mode`'s table has `columns` columns and four rows, each ratio (column, numerator, denominator) right."""
        head, rows = table_rows(run_bench(mode))
        self.assertEqual(len(head), columns, head)
        self.assertEqual(len(rows), 4)
        for row in rows:
            for ratio_column, numerator, denominator in ratios:
                self.check_ratio(row, ratio_column, numerator, denominator)

    def test_group_norm_table(self):
        self.check_table("--group-norm", 8, [(4, 2, 3), (7, 5, 6)])

    def test_gn32_table(self):
        # Column 6: nn.GroupNorm's forward over the two-sweep floor.
        self.check_table("--gn32", 10, [(4, 2, 3), (6, 2, 5), (9, 7, 8)])


if __name__ == "__main__":
    unittest.main()
