"""Every rule's job in one place: read its inputs, call the pure functions of the package, write its outputs.

One module per part of the workflow (data, train, analysis); the math lives in the packages it calls.
"""
