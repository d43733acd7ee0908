"""Benchmarks: ``python -m benchmarks.run`` (``make bench``).

Every figure is printed beside a raw baseline measured in the same run on the same
machine, so the ratio means something wherever it is run. Not part of the test suite:
nothing here asserts on time.
"""
