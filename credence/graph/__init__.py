"""The stores: the data model, its validation, and the backends that keep it.

``model`` (the frame schemas and the one place input is checked), ``store`` (the
``GraphStore`` protocol, its records and the shared load logic), the backends
``sqlite`` (the embedded default) and ``neo4j_store`` (Neo4j over Bolt, started
locally by ``neo4j_server``), ``config`` (which store, from flags and the
environment), ``io`` (dataset files in and out), ``graph_npz`` (an exported graph
to and from files), ``subject`` (everything held about one person, as one document) and
``adbc_export`` (bulk SQLite reads in a child process).

Importing this package imports none of them.
"""
