"""Exact QuSpin evolution of the closed many-body system (``oile_q.exact``); see issue 4. Not built yet."""
