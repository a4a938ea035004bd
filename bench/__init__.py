"""Benchmarks for the GraphQL trading API, run against the real server as a subprocess.

``python -m bench [--leg sqlite|postgres|both] [--quick] [--json PATH]`` prints, for each leg, HTTP query
throughput and latency, price-tick delivery latency to many websocket subscribers, ``placeOrder`` throughput
and latency (market and resting orders), and the latency from placing an order to its owner's position
stream showing the fill. Figures only: nothing here asserts a speed.
"""
