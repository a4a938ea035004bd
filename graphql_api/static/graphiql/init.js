// Starts GraphiQL on this endpoint: queries and mutations over HTTP, subscriptions over
// graphql-transport-ws on the same URL. A file, not an inline script, so the page's CSP allows only
// scripts served from here.
(function () {
  "use strict";
  const url = window.location.origin + window.location.pathname;
  const subscriptionUrl = url.replace(/^http/, "ws");
  const fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  function App() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultQuery: "{ instruments { symbol name } }\n",
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
})();
