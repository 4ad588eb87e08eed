"""Real sales data: histories from CSV, time windows, the data-driven HDPO net, the
generalised newsvendor baselines and the just-in-time oracle, all in profit mode.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 7; SPEC §10.
"""
