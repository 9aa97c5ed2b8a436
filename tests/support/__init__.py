"""Support code shared by the tests: harnesses, processes, tables, fault names."""
