"""sgplan's benchmarks: synthetic estates (estate.py), API-call and rate-limit floors (floor.py),
one measurement per fresh process (measure.py), the set and its tables (runner.py, report.py).
Run `python -m benchmarks` (≤ 10 minutes) or `python -m benchmarks --quick` (< 1 minute).
"""
