"""GraphQL layer of Jangkau: types, resolvers, loaders, auth and the ASGI app."""
