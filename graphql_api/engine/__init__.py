"""Engines that run inside the API processes: the market feed (and, later, the paper venue and bots)."""
