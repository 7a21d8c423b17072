"""Every rule's job in one place: read its inputs, call the pure functions of the package, write its outputs.

One module per rule family: fourier_task (make_task), tokens (download, tokenize), train, analysis, report
(the summary table); each is hashed with its family (codehash.FAMILIES). The math lives in the packages they call.
"""
