"""Loss curves of runs trained elsewhere: the external contract and the routes into it."""
