"""Spatial data layer of Jangkau: tables, migrations, spatial SQL, geometry checks and import.

Nothing here imports strawberry, starlette or `graph`: the GraphQL layer depends on this one,
never the other way round.
"""
