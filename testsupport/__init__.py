"""What tests and benchmarks share (importable from the repository's root, which
pytest and the benchmarks put on ``sys.path``), so that no benchmark imports a test
module."""
