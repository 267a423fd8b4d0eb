"""SQLAlchemy tables, repositories, unit of work, message store, audit log, migrations."""
