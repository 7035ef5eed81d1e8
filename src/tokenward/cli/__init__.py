"""The ``tokenward`` command line."""
