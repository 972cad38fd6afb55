"""Sluice schemas: the wire-level contract every process shares. Imports nothing else of ours.

- ``avro/``: one ``.avsc`` per record and version (``<Record>/v<N>.avsc``), shared types
  in ``avro/_types/``; ``golden/``: one encoded payload per record version.
- :mod:`schemas.codec`: Avro single-object encoding (``encode``, ``decode``, ``Decoded``).
- :mod:`schemas.store`: the schema store the codec reads, loaded once from package data.
- :mod:`schemas.compat`, :mod:`schemas.conventions`: evolution and style checks for tests.
- :mod:`schemas.topics`: the Kafka topic catalogue.
- :mod:`schemas.errors`: the root of Sluice's error tree; :mod:`schemas.schema_errors`: ours.
"""
