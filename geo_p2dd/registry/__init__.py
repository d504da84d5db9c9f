"""The register database: sites, users, API tokens and the change history in SQL.

Operational records live in a SQL database reached through SQLAlchemy 2 and
migrated with Alembic: by default a SQLite file inside the project
(``<project>/register.sqlite``), or PostgreSQL with PostGIS when
``GEO_P2DD_DATABASE_URL`` names one. Modules:

- :mod:`~geo_p2dd.registry.db`: the engine for a project or URL, migrations to head;
- :mod:`~geo_p2dd.registry.models`: the tables;
- :mod:`~geo_p2dd.registry.validate`: one site field at a time, named in every error;
- :mod:`~geo_p2dd.registry.repository`: create, read, patch (optimistic, by ETag),
  soft delete, list and history of sites — no Flask;
- :mod:`~geo_p2dd.registry.accounts`: users, password hashes and API tokens;
- :mod:`~geo_p2dd.registry.migrate`: a project's sites layer moved into the database;
- :mod:`~geo_p2dd.registry.uploads`: uploaded sheets' previews, commits and reviews;
- :mod:`~geo_p2dd.registry.audit`: the audit log of every change.
"""
