// GraphiQL at /graphql (page: graph/graphiql.py), with this app's own React and GraphiQL.
// A token goes in the Headers tab: {"Authorization": "Bearer <token>"}.
const fetcher = GraphiQL.createFetcher({ url: "/graphql" });
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }),
);
