"""vpt: a generator and evaluator for visual perspective taking and depth order benchmarks."""

__version__ = "0.1.0"
SCHEMA_VERSION = "1.0"
