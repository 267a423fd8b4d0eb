"""The practice-management (PM) vocabulary: statuses and the change objects mappings produce.

Pure Python: no SQLAlchemy, no FastAPI (enforced by import-linter).
"""
