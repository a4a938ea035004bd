"""GraphiQL is served by the application: in a real headless browser with no network beyond this server,
the IDE renders under its strict CSP and runs a query."""

from __future__ import annotations

import json

import httpx

from .browser import open_page
from .support import ServerHandle

# Collects every CSP violation from the first script on (a blocked inline script or style would show here).
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


async def test_graphiql_renders_and_runs_a_query_with_no_network(server: ServerHandle) -> None:
    query = "{ instruments { symbol } }"
    async with open_page(f"{server.url}/graphql", server.url, WATCH_CSP) as page:
        await page.wait_for("!!document.querySelector('.graphiql-container .graphiql-query-editor .CodeMirror')")
        editor = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
        await page.evaluate(f"{editor}.setValue({json.dumps(query)})")
        assert await page.evaluate(f"{editor}.getValue()") == query
        await page.evaluate("document.querySelector('.graphiql-execute-button').click()")
        raw = await page.wait_for(
            "(() => { const r = document.querySelector('.graphiql-response .CodeMirror');"
            " const v = r && r.CodeMirror.getValue(); return v && v.includes('symbol') ? v : null; })()"
        )
        assert json.loads(raw)["data"]["instruments"][0] == {"symbol": "BTC"}
        assert page.blocked == []
        assert await page.evaluate("window.__violations") == []


async def test_graphiql_page_has_a_strict_csp_and_self_hosted_assets(server: ServerHandle) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "style-src 'self';" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "https://" not in page.text and "<script>" not in page.text
        asset = await client.get("/graphiql/graphiql.min.js")
        assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff"
