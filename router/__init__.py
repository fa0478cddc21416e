"""Federation 2 router: supergraph loading, query planning, execution and the GraphQL HTTP server."""
