"""Benchmark scripts (run as `python bench/<script>.py`); importable as
`bench.<script>` from the repository root for their tests."""
