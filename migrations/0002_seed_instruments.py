"""Seed the instrument catalog (Hyperliquid asset indices) and each instrument's opening price.

Starting prices, tick and lot sizes are realistic; volatility is the standard deviation of one feed step.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

# symbol, name, asset index, base, quote, tick size, lot size, starting price, volatility per step
INSTRUMENTS = [
    ("BTC", "Bitcoin", 0, "BTC", "USDC", "0.1", "0.00001", "96250.0", "0.0006"),
    ("ETH", "Ethereum", 1, "ETH", "USDC", "0.01", "0.0001", "3420.50", "0.0008"),
    ("SOL", "Solana", 2, "SOL", "USDC", "0.001", "0.01", "182.350", "0.0011"),
    ("XRP", "XRP", 3, "XRP", "USDC", "0.0001", "1", "2.2140", "0.0012"),
    ("DOGE", "Dogecoin", 4, "DOGE", "USDC", "0.00001", "1", "0.32150", "0.0014"),
    ("AVAX", "Avalanche", 5, "AVAX", "USDC", "0.001", "0.01", "35.420", "0.0013"),
    ("LINK", "Chainlink", 6, "LINK", "USDC", "0.001", "0.1", "22.180", "0.0012"),
    ("BNB", "BNB", 7, "BNB", "USDC", "0.01", "0.001", "652.40", "0.0007"),
    ("ADA", "Cardano", 8, "ADA", "USDC", "0.0001", "1", "0.9120", "0.0013"),
    ("ARB", "Arbitrum", 9, "ARB", "USDC", "0.0001", "1", "0.8150", "0.0015"),
]

_COLUMNS = "symbol, name, asset_index, base, quote, tick_size, lot_size, initial_price, volatility, created_at"


def _insert(row: tuple[str, ...]) -> str:
    symbol, name, index, base, quote, tick, lot, price, vol = row
    return (
        f"INSERT INTO instruments ({_COLUMNS}) VALUES "
        f"('{symbol}', '{name}', {index}, '{base}', '{quote}', {tick}, {lot}, {price}, {vol}, CURRENT_TIMESTAMP)"
    )


class Migration(migrations.Migration):
    dependencies = [("trading", "0001_initial")]

    operations = [
        ops.RunSQL(
            [_insert(row) for row in INSTRUMENTS]
            + [
                "INSERT INTO last_prices (instrument_id, price, step, ts) "
                "SELECT id, initial_price, 0, CURRENT_TIMESTAMP FROM instruments"
            ],
            reverse_sql=["DELETE FROM last_prices", "DELETE FROM instruments"],
        ),
    ]
