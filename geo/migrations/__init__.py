"""Alembic migrations, shipped inside the package so an installed `jangkau` can migrate."""
