"""Root resolvers, one module per area of the schema."""
