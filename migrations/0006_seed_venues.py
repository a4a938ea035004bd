"""Seed the venue catalog and the GLOBAL kill switch (inactive)."""

import json

from tortoise import migrations
from tortoise.migrations import operations as ops

_CRYPTO_SYMBOLS = ["BTC", "ETH", "SOL", "XRP", "DOGE", "AVAX", "LINK", "BNB", "ADA", "ARB"]

# id, name, type, category, protocols, drop copy, T+0, website, description, symbols
VENUES = [
    ("binance", "Binance", "CRYPTO", "CEX", ["API", "WEBSOCKET", "FIX"], True, True, "https://www.binance.com",
     "Largest spot and derivatives exchange by volume.", _CRYPTO_SYMBOLS),
    ("coinbase", "Coinbase", "CRYPTO", "CEX", ["API", "WEBSOCKET", "FIX"], True, True, "https://www.coinbase.com",
     "US-regulated exchange with FIX connectivity for institutions.", ["BTC", "ETH", "SOL", "XRP", "DOGE", "AVAX", "LINK", "ADA", "ARB"]),
    ("kraken", "Kraken", "CRYPTO", "CEX", ["API", "WEBSOCKET", "FIX"], True, True, "https://www.kraken.com",
     "Long-running exchange with spot, margin and futures.", ["BTC", "ETH", "SOL", "XRP", "DOGE", "AVAX", "LINK", "ADA"]),
    ("kucoin", "KuCoin", "CRYPTO", "CEX", ["API", "WEBSOCKET"], False, True, "https://www.kucoin.com",
     "Broad altcoin listings.", _CRYPTO_SYMBOLS),
    ("okx", "OKX", "CRYPTO", "CEX", ["API", "WEBSOCKET", "FIX"], True, True, "https://www.okx.com",
     "Spot, perpetuals and options.", _CRYPTO_SYMBOLS),
    ("bitfinex", "Bitfinex", "CRYPTO", "CEX", ["API", "WEBSOCKET"], False, True, "https://www.bitfinex.com",
     "Deep BTC liquidity and margin funding.", ["BTC", "ETH", "SOL", "XRP", "DOGE", "AVAX", "LINK", "ADA"]),
    ("bybit", "Bybit", "CRYPTO", "CEX", ["API", "WEBSOCKET"], False, True, "https://www.bybit.com",
     "Derivatives-first exchange.", _CRYPTO_SYMBOLS),
    ("gateio", "Gate.io", "CRYPTO", "CEX", ["API", "WEBSOCKET"], False, True, "https://www.gate.io",
     "Wide range of listed tokens.", _CRYPTO_SYMBOLS),
    ("hyperliquid", "Hyperliquid", "CRYPTO", "DEX", ["API", "WEBSOCKET"], False, True, "https://hyperliquid.xyz",
     "On-chain perpetuals order book, asset indices as used by this API.", _CRYPTO_SYMBOLS),
    ("bx-digital", "BX Digital", "TOKENIZED", "DLT_EXCHANGE", ["FIX", "API"], True, True, "https://www.bxdigital.ch",
     "FINMA-licensed DLT trading facility for tokenized securities.", []),
    ("sdx", "SDX", "TOKENIZED", "DLT_EXCHANGE", ["FIX", "API"], True, True, "https://www.sdx.com",
     "SIX Digital Exchange for issuance, trading and settlement of digital assets.", []),
    ("taurus-tdx", "Taurus TDX", "TOKENIZED", "DLT_EXCHANGE", ["API"], False, True, "https://www.taurushq.com",
     "Regulated marketplace for tokenized assets.", []),
    ("securitize", "Securitize", "TOKENIZED", "TRANSFER_AGENT", ["API"], False, False, "https://securitize.io",
     "Tokenization platform and SEC-registered transfer agent.", []),
    ("franklin", "Franklin Templeton", "TOKENIZED", "FUND", ["API"], False, False, "https://www.franklintempleton.com",
     "Tokenized money market fund (BENJI).", []),
]


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (list, dict)):
        value = json.dumps(value)
    return "'" + str(value).replace("'", "''") + "'"


def _insert(row: tuple) -> str:  # type: ignore[type-arg]
    vid, name, vtype, category, protocols, drop_copy, t0, website, description, symbols = row
    values = [vid, name, vtype, category, protocols, drop_copy, t0, f"/static/venues/{vid}.svg", website,
              description, symbols, True]
    return (
        "INSERT INTO venues (id, name, type, category, protocols, drop_copy, t0_settlement, logo_url, website, "
        "description, symbols, supports_paper, created_at) VALUES ("
        + ", ".join(_literal(v) for v in values)
        + ", CURRENT_TIMESTAMP)"
    )


class Migration(migrations.Migration):
    dependencies = [("trading", "0005_trading")]

    operations = [
        ops.RunSQL(
            [_insert(row) for row in VENUES]
            + ["INSERT INTO kill_switches (scope, user_id, active, reason) VALUES ('GLOBAL', NULL, FALSE, '')"],
            reverse_sql=["DELETE FROM kill_switches", "DELETE FROM venues"],
        ),
    ]
