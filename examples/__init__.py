"""Runnable examples: ``python -m examples.calc.demo`` from the repository root."""
