"""Aula benchmarks: load generators and measurements (see benchmarks/README.md)."""
