"""Contract tests: one abstract case per port, subclassed per adapter."""
