"""Interop tests: Swordfish against Apache Thrift and thriftpy2, in both directions."""
